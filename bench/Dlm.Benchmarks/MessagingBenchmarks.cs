using System.Buffers.Binary;
using System.Net;
using BenchmarkDotNet.Attributes;
using Dlm.Messaging;
using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm.Benchmarks;

/// <summary>
/// midcomms' per-message CPU without sockets: a node that is never started, its peer a 3.2 node
/// (detected from a STATUS it "received"). <see cref="Receive"/> hands 1,024 wrapped REQUESTs
/// (120 bytes, the bench comms message) to the node as the transport's receive thread does, in one
/// batch; <see cref="Send"/> queues 1,024 to the peer and then takes the peer's cumulative ACK for
/// them, as a sender whose peer keeps up. Results are per message.
/// </summary>
[MemoryDiagnoser]
public class MessagingBenchmarks
{
    private const int Batch = 1024;
    private const uint Lockspace = 0x0B3C_0001;
    private readonly byte[] _stream = new byte[Batch * 120];
    private readonly byte[] _ack = new byte[WireLimits.HeaderSize];
    private readonly int[] _offsets = new int[Batch + 1];
    private MessagingNode _node = null!;
    private ITransportHandler _receiver = null!;
    private uint _received;
    private uint _sent;
    private DlmMessage _message;

    [GlobalSetup]
    public void Setup()
    {
        var book = new[] { new NodeAddress(1, [IPAddress.Parse("127.9.0.1")]), new NodeAddress(2, [IPAddress.Parse("127.9.0.2")]) };
        _node = new MessagingNode(new MessagingOptions { Transport = new TransportOptions { Addresses = new AddressBook(1, book) } }, new NullHandler());
        _receiver = _node;

        // The peer's STATUS tells us it speaks 3.2 (spec §2.8).
        var status = new byte[WireLimits.RcomSize + WireLimits.RcomStatusSize];
        var length = PacketWriter.WriteRcom(status, Lockspace, 2, new RcomHeader(RcomType.Status, 0, 1, 1, 0), new byte[WireLimits.RcomStatusSize]);
        _receiver.OnMessages(2, status.AsSpan(0, length));

        _message = new DlmMessage
        {
            Type = MessageType.Request, NodeId = 2, LockId = 1, Hash = 0x1234_5678,
            GrantedMode = LockMode.Invalid, RequestedMode = LockMode.Exclusive, Asts = AstFlags.Completion | AstFlags.Blocking,
        };
        var at = 0;
        for (var i = 0; i < Batch; i++)
        {
            _offsets[i] = at;
            at += PacketWriter.WriteWrappedMessage(_stream.AsSpan(at), (uint)i, Lockspace, 2, _message, "bench/01"u8);
        }

        _offsets[Batch] = at;

        // One round of each, checked, so the benchmark measures what it says: the peer is a 3.2 node, every
        // message is delivered or queued wrapped, and the ACK releases all that was queued.
        Receive();
        Send();
        var stats = _node.GetStatistics(2);
        if (stats.Version != ProtocolVersion.V32 || stats.Delivered != Batch + 1 || stats.SeqSend != Batch || stats.QueuedMessages != 0
            || stats.WaitingForVersion != 0 || stats.MalformedDropped + stats.OtherDropped + stats.GapsDropped + stats.DuplicatesDropped != 0)
        {
            throw new InvalidOperationException($"The benchmark's node is not in the state it measures: {stats}");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _node.DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>One batch of in-order messages from the peer, handed over in one call; each one's h_seq is patched first (4 bytes).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void Receive()
    {
        for (var i = 0; i < Batch; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_stream.AsSpan(_offsets[i] + 4), _received++); // h_seq, in the h_lockspace field (spec §1.2)
        }

        _receiver.OnMessages(2, _stream.AsSpan(0, _offsets[Batch]));
    }

    /// <summary>1,024 messages to the peer, then its ACK of all of them (which releases them).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public void Send()
    {
        for (var i = 0; i < Batch; i++)
        {
            _message.LockId = (uint)i;
            _node.SendMessage(2, Lockspace, _message, "bench/01"u8);
        }

        _sent += Batch;
        PacketWriter.WriteAck(_ack, _sent, 2);
        _receiver.OnMessages(2, _ack);
    }

    // Takes each delivery and does nothing with it: the setup's check reads the node's own counters.
    private sealed class NullHandler : IMessageHandler
    {
        public void OnMessage(int nodeId, in Packet packet)
        {
        }
    }
}
