using System.Threading.Channels;
using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>
/// Lock engines of N nodes joined by an in-memory network that delivers every node's messages in
/// order, asynchronously (like midcomms: exactly once, in order per pair), and counts them. A node
/// can fail (its traffic is lost both ways) and come back as a new incarnation; recovery runs the
/// engines' real RCOM exchange (spec §5) over the same network.
/// </summary>
internal sealed class InMemoryCluster : IAsyncDisposable
{
    private readonly Channel<Envelope>[] _inboxes;
    private readonly Task[] _readers;
    private readonly bool[] _failed;
    private readonly int _lvbLength;
    private readonly TimeProvider? _time;
    private long _messages;

    public InMemoryCluster(int nodes, int lvbLength = 32, TimeProvider? time = null, bool startStopped = false)
    {
        _lvbLength = lvbLength;
        _time = time;
        _failed = new bool[nodes];
        var directory = new DirectoryNodes(Enumerable.Range(1, nodes).Select(i => new DirectoryMember(i)));
        _inboxes = Enumerable.Range(0, nodes).Select(_ => Channel.CreateUnbounded<Envelope>()).ToArray();
        Engines = Enumerable.Range(1, nodes).Select(i => NewEngine(i, directory, startStopped)).ToArray();
        _readers = Enumerable.Range(0, nodes).Select(i => Task.Run(async () =>
        {
            await foreach (var envelope in _inboxes[i].Reader.ReadAllAsync())
            {
                if (_failed[i] || _failed[envelope.From - 1] || envelope.Engine != Engines[i])
                {
                    continue; // lost: the node (or the sender) is down, or the message was for an old incarnation
                }

                if (envelope.Rcom is { } dropped && Drop?.Invoke(envelope.From, i + 1, dropped) == true)
                {
                    continue; // the test's choice: a stopped node drops what it cannot take (spec §5.2)
                }

                if (envelope.Rcom is null)
                {
                    Delivering?.Invoke(envelope.From, i + 1, envelope.Message);
                }

                if (envelope.Rcom is { } rcom)
                {
                    Engines[i].ReceiveRcom(envelope.From, rcom, envelope.Extra);
                }
                else
                {
                    Engines[i].Receive(envelope.From, envelope.Message, envelope.Extra);
                }
            }
        })).ToArray();
    }

    public LockspaceEngine[] Engines { get; }

    /// <summary>When set, an RCOM (from, to, header) it returns true for is not delivered.</summary>
    public Func<int, int, RcomHeader, bool>? Drop { get; set; }

    /// <summary>When set, told of each DLM_MSG (from, to, message) just before it is delivered.</summary>
    public Action<int, int, DlmMessage>? Delivering { get; set; }

    public long Messages => Interlocked.Read(ref _messages);

    public LockspaceEngine this[int nodeId] => Engines[nodeId - 1];

    /// <summary>Node <paramref name="nodeId"/> dies: nothing it sends or is sent arrives any more.</summary>
    public void Fail(int nodeId) => _failed[nodeId - 1] = true;

    /// <summary>A failed node comes back as a new incarnation: a fresh, stopped engine.</summary>
    public async Task RestartAsync(int nodeId)
    {
        var old = Engines[nodeId - 1];
        Engines[nodeId - 1] = NewEngine(nodeId, new DirectoryNodes([new DirectoryMember(nodeId)]), startStopped: true);
        _failed[nodeId - 1] = false;
        await old.DisposeAsync();
    }

    /// <summary>Stops every member, then runs recovery on all of them at once (the membership contract).</summary>
    public async Task RecoverAsync(int[] members, int[]? renewed = null)
    {
        foreach (var id in members)
        {
            this[id].Stop();
        }

        var view = members.Select(m => new DirectoryMember(m)).ToArray();
        var results = await Task.WhenAll(members.Select(id => this[id].RecoverAsync(view, renewed ?? [])))
            .WaitAsync(TimeSpan.FromSeconds(60));
        Assert.All(results, Assert.True);
    }

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

    private LockspaceEngine NewEngine(int id, DirectoryNodes directory, bool startStopped) =>
        new("cluster", _lvbLength, timeProvider: _time, outbox: new Outbox(this, id), localNodeId: id, directory: directory, startStopped: startStopped);

    private sealed record Envelope(int From, LockspaceEngine Engine, DlmMessage Message, RcomHeader? Rcom, byte[] Extra);

    private sealed class Outbox(InMemoryCluster cluster, int from) : IEngineOutbox
    {
        public void Send(int nodeId, uint lockspaceId, in DlmMessage message, ReadOnlySpan<byte> extra)
        {
            Interlocked.Increment(ref cluster._messages);
            cluster._inboxes[nodeId - 1].Writer.TryWrite(new Envelope(from, cluster.Engines[nodeId - 1], message, null, extra.ToArray()));
        }

        public void SendRcom(int nodeId, uint lockspaceId, in RcomHeader rcom, ReadOnlySpan<byte> payload)
        {
            Interlocked.Increment(ref cluster._messages);
            cluster._inboxes[nodeId - 1].Writer.TryWrite(new Envelope(from, cluster.Engines[nodeId - 1], default, rcom, payload.ToArray()));
        }
    }
}
