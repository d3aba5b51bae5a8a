using Dlm.Protocol;

namespace Dlm.Transport.Tests;

/// <summary>
/// Records what a transport hands up: every message (copied) and every OnConnected, per node.
/// Waits are woken by the events themselves (no polling) and time out with a message that names
/// the node and the state expected.
/// </summary>
internal sealed class RecordingHandler(int localNodeId) : ITransportHandler
{
    private readonly Lock _lock = new();
    private readonly List<(int Node, byte[] Bytes)> _messages = [];
    private readonly List<(int Node, int Retransmitted)> _connects = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int LocalNodeId { get; } = localNodeId;

    public void OnMessages(int nodeId, ReadOnlySpan<byte> messages)
    {
        var copies = new List<(int, byte[])>();
        while (!messages.IsEmpty)
        {
            copies.Add((nodeId, FrameReader.Next(ref messages).ToArray()));
        }

        lock (_lock)
        {
            _messages.AddRange(copies);
        }

        Changed();
    }

    public void OnConnected(int nodeId, int retransmitted)
    {
        lock (_lock)
        {
            _connects.Add((nodeId, retransmitted));
        }

        Changed();
    }

    public IReadOnlyList<byte[]> MessagesFrom(int nodeId)
    {
        lock (_lock)
        {
            return _messages.Where(m => m.Node == nodeId).Select(m => m.Bytes).ToList();
        }
    }

    /// <summary>The retransmission counts OnConnected reported for <paramref name="nodeId"/>, in order.</summary>
    public IReadOnlyList<int> ConnectsOf(int nodeId)
    {
        lock (_lock)
        {
            return _connects.Where(c => c.Node == nodeId).Select(c => c.Retransmitted).ToList();
        }
    }

    public Task WaitForMessagesAsync(int from, int count, TimeSpan timeout) => WaitUntilAsync(
        () => MessagesFrom(from).Count >= count,
        () => $"node {LocalNodeId} has {MessagesFrom(from).Count} of {count} messages from node {from}",
        timeout);

    public Task WaitForConnectsAsync(int nodeId, int count, TimeSpan timeout) => WaitUntilAsync(
        () => ConnectsOf(nodeId).Count >= count,
        () => $"node {LocalNodeId} saw {ConnectsOf(nodeId).Count} of {count} usable connections to node {nodeId}",
        timeout);

    public async Task WaitUntilAsync(Func<bool> condition, Func<string> describe, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                changed = _changed.Task;
            }

            if (condition())
            {
                return;
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"{describe()} after {timeout}");
            }
        }
    }

    private void Changed()
    {
        TaskCompletionSource changed;
        lock (_lock)
        {
            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }
}
