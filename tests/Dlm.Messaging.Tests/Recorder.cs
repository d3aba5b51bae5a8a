using Dlm.Messaging;
using Dlm.Protocol;

namespace Dlm.Messaging.Tests;

/// <summary>Records delivered DLM_MSG counters per sender and checks exactly-once, in-order delivery.</summary>
internal sealed class Recorder(int nodeId) : IMessageHandler
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, uint> _next = [];
    private readonly List<string> _violations = [];
    private readonly List<(int Node, RcomType Type)> _rcoms = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int NodeId { get; } = nodeId;

    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (_lock)
            {
                return [.. _violations];
            }
        }
    }

    public IReadOnlyList<(int Node, RcomType Type)> Rcoms
    {
        get
        {
            lock (_lock)
            {
                return [.. _rcoms];
            }
        }
    }

    public uint ReceivedFrom(int sender)
    {
        lock (_lock)
        {
            return _next.GetValueOrDefault(sender);
        }
    }

    public void OnMessage(int nodeId, in Packet packet)
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            if (packet.Kind == DlmCommand.Rcom)
            {
                _rcoms.Add((nodeId, packet.Rcom.Type));
            }
            else
            {
                var expected = _next.GetValueOrDefault(nodeId);
                var got = packet.Message.LockId;
                if (got != expected)
                {
                    _violations.Add($"node {NodeId} from {nodeId}: expected {expected}, got {got}");
                }

                _next[nodeId] = Math.Max(expected, got + 1);
            }

            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
        if (packet.Kind != DlmCommand.Rcom)
        {
            Counted?.Invoke(nodeId, packet.Message.LockId);
        }
    }

    /// <summary>Called (sender, counter) after each counted message is recorded, on the receive thread.</summary>
    public Action<int, uint>? Counted { get; set; }

    /// <summary>Waits until <paramref name="count"/> counted messages from <paramref name="sender"/> arrived.</summary>
    public async Task WaitForAsync(int sender, uint count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_next.GetValueOrDefault(sender) >= count)
                {
                    return;
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"node {NodeId} has {ReceivedFrom(sender)} of {count} messages from node {sender} after {timeout}");
            }
        }
    }

    public async Task WaitForRcomAsync(int sender, RcomType type, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_rcoms.Contains((sender, type)))
                {
                    return;
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"node {NodeId} has no {type} from node {sender} after {timeout}");
            }
        }
    }
}
