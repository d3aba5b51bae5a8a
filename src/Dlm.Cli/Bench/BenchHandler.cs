using System.Diagnostics;
using Dlm.Messaging;
using Dlm.Protocol;

namespace Dlm.Cli.Bench;

/// <summary>
/// One benchmark node's receiver: checks counted REQUESTs per sender, answers LOOKUP pings with
/// LOOKUP_REPLY, completes pongs, and notes which peers' STATUS pings arrived.
/// </summary>
internal sealed class BenchHandler : IMessageHandler
{
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource _allReceived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _allPinged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<int> _pinged = [];
    private readonly int _peers;
    private int _complete;
    private PingPong? _pingPong;

    public BenchHandler(int nodeId, int nodes, long messagesPerPeer)
    {
        NodeId = nodeId;
        _peers = nodes - 1;
        Checkers = Enumerable.Range(0, nodes + 1).Select(i => i == 0 || i == nodeId ? null : new DeliveryChecker(messagesPerPeer)).ToArray();
        if (_peers == 0 || messagesPerPeer == 0)
        {
            _allReceived.TrySetResult();
        }
    }

    public int NodeId { get; }

    public MessagingNode? Node { get; set; }

    /// <summary>Indexed by sender node id; null for ourselves.</summary>
    public DeliveryChecker?[] Checkers { get; }

    public Task AllReceived => _allReceived.Task;

    public Task AllPinged => _allPinged.Task;

    /// <summary>
    /// Ping-pongs LOOKUP / LOOKUP_REPLY with <paramref name="peer"/>: each reply is timed and the next
    /// ping sent from the receive callback, as the raw baseline's loop sends from its read's
    /// continuation, so neither side adds a scheduler hop of its own. The first
    /// <paramref name="untimed"/> are not timed.
    /// </summary>
    public Task<Percentiles> PingPongAsync(int peer, int iterations, int untimed)
    {
        var pingPong = new PingPong(Node!, peer, iterations, untimed);
        _pingPong = pingPong;
        pingPong.Next();
        return pingPong.Done.Task;
    }

    public void OnMessage(int nodeId, in Packet packet)
    {
        if (packet.Kind == DlmCommand.Rcom)
        {
            lock (_lock)
            {
                if (_pinged.Add(nodeId) && _pinged.Count == _peers)
                {
                    _allPinged.TrySetResult();
                }
            }

            return;
        }

        // The two fields the bench needs, read as the raw baseline's receiver reads its counter; midcomms
        // has validated the whole message already. (Decoding all of it was a tenth of this thread's time.)
        var inner = packet.InnerBytes;
        var counter = BenchMessages.GetInnerCounter(inner);
        switch (BenchMessages.GetInnerType(inner))
        {
            case MessageType.Request:
                // Messages from one sender reach us one at a time (midcomms' per-peer receive lock).
                var checker = Checkers[nodeId]!;
                if (checker.Record(counter) && Interlocked.Increment(ref _complete) == _peers)
                {
                    _allReceived.TrySetResult();
                }

                break;
            case MessageType.Lookup:
                Node!.SendMessage(nodeId, BenchMessages.Lockspace, BenchMessages.Counted(counter, MessageType.LookupReply), BenchMessages.Name);
                break;
            case MessageType.LookupReply:
                _pingPong?.Reply();
                break;
        }
    }

    private sealed class PingPong(MessagingNode node, int peer, int iterations, int untimed)
    {
        private readonly Percentiles _samples = new(iterations);
        private int _sent;
        private long _start;

        public TaskCompletionSource<Percentiles> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Next()
        {
            _start = Stopwatch.GetTimestamp();
            node.SendMessage(peer, BenchMessages.Lockspace, BenchMessages.Counted((uint)_sent++, MessageType.Lookup), BenchMessages.Name);
        }

        public void Reply()
        {
            if (_sent > untimed)
            {
                _samples.Add(Stopwatch.GetElapsedTime(_start).TotalMicroseconds);
            }

            if (_sent < iterations + untimed)
            {
                Next();
            }
            else
            {
                Done.TrySetResult(_samples);
            }
        }
    }
}
