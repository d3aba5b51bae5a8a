using System.Threading.Channels;
using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>
/// Lock engines of N nodes joined by an in-memory network that delivers every node's messages in
/// order, asynchronously (like midcomms: exactly once, in order per pair), and counts them.
/// </summary>
internal sealed class InMemoryCluster : IAsyncDisposable
{
    private readonly Channel<(int From, DlmMessage Message, byte[] Extra)>[] _inboxes;
    private readonly Task[] _readers;
    private long _messages;

    public InMemoryCluster(int nodes, int lvbLength = 32, TimeProvider? time = null)
    {
        var directory = new DirectoryNodes(Enumerable.Range(1, nodes).Select(i => new DirectoryMember(i)));
        _inboxes = Enumerable.Range(0, nodes).Select(_ => Channel.CreateUnbounded<(int, DlmMessage, byte[])>()).ToArray();
        Engines = Enumerable.Range(1, nodes)
            .Select(i => new LockspaceEngine("cluster", lvbLength, timeProvider: time, outbox: new Outbox(this, i), localNodeId: i, directory: directory))
            .ToArray();
        _readers = Enumerable.Range(0, nodes).Select(i => Task.Run(async () =>
        {
            await foreach (var (from, message, extra) in _inboxes[i].Reader.ReadAllAsync())
            {
                Engines[i].Receive(from, message, extra);
            }
        })).ToArray();
    }

    public LockspaceEngine[] Engines { get; }

    public long Messages => Interlocked.Read(ref _messages);

    public LockspaceEngine this[int nodeId] => Engines[nodeId - 1];

    public async ValueTask DisposeAsync()
    {
        foreach (var inbox in _inboxes)
        {
            inbox.Writer.TryComplete();
        }

        await Task.WhenAll(_readers);
        foreach (var engine in Engines)
        {
            await engine.DisposeAsync();
        }
    }

    private sealed class Outbox(InMemoryCluster cluster, int from) : IEngineOutbox
    {
        public void Send(int nodeId, uint lockspaceId, in DlmMessage message, ReadOnlySpan<byte> extra)
        {
            Interlocked.Increment(ref cluster._messages);
            cluster._inboxes[nodeId - 1].Writer.TryWrite((from, message, extra.ToArray()));
        }
    }
}
