using System.Net;
using System.Threading.Channels;
using Dlm.Membership.Etcd;
using Microsoft.Extensions.Logging;

namespace Dlm.Membership.Tests;

/// <summary>Watches that resume after their history was compacted, and the stop barrier across such a gap.</summary>
public sealed partial class EtcdMembershipTests
{
    // A watch that lost history to a compaction lists again. With the same members it publishes nothing: a view
    // would stop the lockspace for a change no other node sees, and its barrier would wait for a generation
    // nobody else writes. The next real change is a view with that change's own revision, as on every node.
    [Fact]
    public async Task WatchResumedAfterCompaction_SameMembers_NoViewUntilTheNextRealChange()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var members = await TwoMembers.JoinAsync(etcd);
        var relisted = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        members.One.Relisted += (_, changed) => relisted.TrySetResult(changed);
        var resume = new TaskCompletionSource();
        members.One.CutWatch("ls", resume.Task);

        etcd.CompactAll();
        resume.SetResult();
        Assert.False(await relisted.Task.WaitAsync(Timeout)); // listed again: the same members
        var next = members.Views.MoveNextAsync().AsTask();
        Assert.False(next.IsCompleted); // a view would be queued before Relisted is told

        await members.Two.LeaveAsync("ls", CancellationToken.None);
        Assert.True(await next.WaitAsync(Timeout));
        var left = members.Views.Current;
        Assert.Equal((2, LeaveReason.Leave), (left.Left.Single().Member.NodeId, left.Left.Single().Reason));
        var tombstone = etcd.Etcdctl("get /dlm/ls/ls/leaving/2 -w json");
        var leaveRevision = System.Text.Json.JsonDocument.Parse(tombstone).RootElement.GetProperty("kvs")[0].GetProperty("mod_revision").GetInt64();
        Assert.Equal(leaveRevision, left.Generation);
    }

    // Members that changed while a node's watch was cut off, with the history compacted before it resumed: that
    // node learns the change from a list at a later revision than the change's own, which the others use as
    // the generation. Every node's stop barrier must still pass. Before, the lagging node waited for stop
    // markers of its list's revision that nobody else would ever write, until the next membership change.
    [Fact]
    public async Task MembersChangedInsideACompactionGap_EveryNodesBarrierPasses()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var members = await TwoMembers.JoinAsync(etcd);
        await using var twoViews = members.Two.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
        var resume = new TaskCompletionSource();
        members.One.CutWatch("ls", resume.Task);

        await using var three = await ConnectAsync(etcd, 3);
        var threeView = await three.JoinAsync("ls", CancellationToken.None);
        var twoView = await NextAsync(twoViews);
        Assert.Equal(threeView.Generation, twoView.Generation);
        var compacted = etcd.CompactAll();
        resume.SetResult();
        var oneView = await NextAsync(members.Views);
        Assert.Equal([1, 2, 3], oneView.Members.Select(m => m.NodeId));
        Assert.Equal(3, oneView.Joined.Single().NodeId);
        Assert.True(oneView.Generation >= compacted); // the change's own revision was compacted away

        var passed = await Task.WhenAll(
            members.One.AwaitAllStoppedAsync("ls", oneView.Generation, CancellationToken.None),
            members.Two.AwaitAllStoppedAsync("ls", twoView.Generation, CancellationToken.None),
            three.AwaitAllStoppedAsync("ls", threeView.Generation, CancellationToken.None)).WaitAsync(Timeout);
        Assert.All(passed, Assert.True);
    }

    // Two joins inside the gap, and node 2 stopped for the first only (its own watch cut after it): node 1's barrier
    // must wait until node 2 has stopped for the second too, as it would without the gap. A bound of "the first
    // revision node 1 missed" accepted node 2's marker of the first join, and node 1 went on while node 2 had not
    // stopped for the second; the bound is now the latest join or clean leave the list shows.
    [Fact]
    public async Task TwoJoinsInsideACompactionGap_TheBarrierWaitsForTheLatest()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        var log = Channel.CreateUnbounded<string>();
        await using var one = await EtcdMembershipProvider.StartAsync(new EtcdMembershipOptions
        {
            Endpoints = etcd.Endpoints, NodeId = 1, Address = IPAddress.Parse("127.0.0.1"), Ttl = TimeSpan.FromSeconds(10),
            LoggerFactory = new LinesLogged(log.Writer),
        });
        await using var two = await ConnectAsync(etcd, 2);
        await one.JoinAsync("ls", CancellationToken.None);
        await using var oneViews = one.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
        await using var twoViews = two.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
        await two.JoinAsync("ls", CancellationToken.None);
        await NextAsync(oneViews);
        var resumeOne = new TaskCompletionSource();
        one.CutWatch("ls", resumeOne.Task);

        await using var three = await ConnectAsync(etcd, 3);
        var first = (await three.JoinAsync("ls", CancellationToken.None)).Generation;
        Assert.Equal(first, (await NextAsync(twoViews)).Generation);
        var resumeTwo = new TaskCompletionSource();
        two.CutWatch("ls", resumeTwo.Task);
        await using var four = await ConnectAsync(etcd, 4);
        var second = (await four.JoinAsync("ls", CancellationToken.None)).Generation;
        etcd.CompactAll();

        var twoAtFirst = two.AwaitAllStoppedAsync("ls", first, CancellationToken.None);
        var threeAtSecond = three.AwaitAllStoppedAsync("ls", second, CancellationToken.None);
        var fourAtSecond = four.AwaitAllStoppedAsync("ls", second, CancellationToken.None);
        resumeOne.SetResult();
        var listed = await NextAsync(oneViews);
        Assert.Equal([1, 2, 3, 4], listed.Members.Select(m => m.NodeId));
        var oneStopped = one.AwaitAllStoppedAsync("ls", listed.Generation, CancellationToken.None);

        // Every marker in, and node 1 still waits: node 2 stopped for the first join only.
        var expected = $"stopped: 1:{listed.Generation},2:{first},3:{second},4:{second}";
        string line;
        do
        {
            line = await log.Reader.ReadAsync().AsTask().WaitAsync(Timeout);
        }
        while (!line.Contains(expected, StringComparison.Ordinal));
        Assert.False(oneStopped.IsCompleted);

        resumeTwo.SetResult(); // node 2 lists too (its history is gone as well) and sees the second join; its first barrier is superseded
        Assert.False(await twoAtFirst.WaitAsync(Timeout));
        var twoListed = await NextAsync(twoViews);
        Assert.Equal(4, twoListed.Joined.Single().NodeId);
        var twoAtSecond = two.AwaitAllStoppedAsync("ls", twoListed.Generation, CancellationToken.None);
        Assert.All(await Task.WhenAll(oneStopped, twoAtSecond, threeAtSecond, fourAtSecond).WaitAsync(Timeout), Assert.True);
    }

    // Each message the provider logs, formatted, into a channel (its barrier logs what it waits for).
    private sealed class LinesLogged(ChannelWriter<string> lines) : ILoggerFactory, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.TryWrite(formatter(state, exception));

        public void Dispose()
        {
        }
    }
}
