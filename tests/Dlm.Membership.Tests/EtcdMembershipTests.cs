using System.Net;
using Dlm.Membership.Etcd;

namespace Dlm.Membership.Tests;

/// <summary>The etcd provider against private etcd instances (docs/membership.md).</summary>
public sealed partial class EtcdMembershipTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static Task<EtcdMembershipProvider> ConnectAsync(EtcdCluster etcd, int id, double ttl = 6) =>
        EtcdMembershipProvider.StartAsync(new EtcdMembershipOptions
        {
            Endpoints = etcd.Endpoints, NodeId = id, Address = IPAddress.Parse($"127.0.0.{id}"), Ttl = TimeSpan.FromSeconds(ttl),
        });

    private static async Task<MembershipView> NextAsync(IAsyncEnumerator<MembershipView> views)
    {
        Assert.True(await views.MoveNextAsync().AsTask().WaitAsync(Timeout), "the view stream ended");
        return views.Current;
    }

    // Nodes 1 and 2 members of "ls"; node 1's view stream is past node 2's join. Disposed views, two, one.
    private sealed class TwoMembers : IAsyncDisposable
    {
        private TwoMembers(EtcdMembershipProvider one, EtcdMembershipProvider two, IAsyncEnumerator<MembershipView> views) =>
            (One, Two, Views) = (one, two, views);

        public EtcdMembershipProvider One { get; }

        public EtcdMembershipProvider Two { get; }

        public IAsyncEnumerator<MembershipView> Views { get; }

        public static async Task<TwoMembers> JoinAsync(EtcdCluster etcd, double ttlOfTwo = 6)
        {
            var one = await ConnectAsync(etcd, 1);
            EtcdMembershipProvider? two = null;
            try
            {
                two = await ConnectAsync(etcd, 2, ttlOfTwo);
                await one.JoinAsync("ls", CancellationToken.None);
                var views = one.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
                await two.JoinAsync("ls", CancellationToken.None);
                await NextAsync(views);
                return new TwoMembers(one, two, views);
            }
            catch
            {
                if (two is not null)
                {
                    await two.DisposeAsync();
                }

                await one.DisposeAsync();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Views.DisposeAsync();
            await Two.DisposeAsync();
            await One.DisposeAsync();
        }
    }

    [Fact]
    public async Task Join_Leave_Views_GenerationsAreRevisions_LeaveIsNotAFailure()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var one = await ConnectAsync(etcd, 1);
        await using var two = await ConnectAsync(etcd, 2);
        var first = await one.JoinAsync("ls", CancellationToken.None);
        Assert.Equal([1], first.Members.Select(m => m.NodeId));
        await using var views = one.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();

        var joined = await two.JoinAsync("ls", CancellationToken.None);
        var seen = await NextAsync(views);
        Assert.Equal(joined.Generation, seen.Generation); // the same view on both nodes
        Assert.Equal([1, 2], seen.Members.Select(m => m.NodeId));
        Assert.Equal(two.Lease, seen.Members.Single(m => m.NodeId == 2).Incarnation);

        await two.LeaveAsync("ls", CancellationToken.None);
        var left = await NextAsync(views);
        Assert.True(left.Generation > seen.Generation);
        Assert.Equal((2, LeaveReason.Leave), (left.Left.Single().Member.NodeId, left.Left.Single().Reason));
    }

    [Fact]
    public async Task LeaseExpiry_IsAFailure_AndTheSilentNodeFencesItself()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var members = await TwoMembers.JoinAsync(etcd, ttlOfTwo: 2);
        var (two, views) = (members.Two, members.Views);

        var fenced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = two.Liveness.Register(() => fenced.TrySetResult());
        two.PauseKeepAlive(true); // as a process paused past its TTL would
        var failed = await NextAsync(views);
        var expiredAt = TimeProvider.System.GetTimestamp();
        Assert.Equal((2, LeaveReason.ProcessDown), (failed.Left.Single().Member.NodeId, failed.Left.Single().Reason));
        // Node 2 stopped being live (IsLive, asked before every grant) before the survivors saw its lease expire.
        Assert.True(two.LiveUntil < expiredAt, $"node 2 was live until {TimeProvider.System.GetElapsedTime(expiredAt, two.LiveUntil)} after the survivors saw its expiry");
        Assert.False(two.IsLive);
        await fenced.Task.WaitAsync(Timeout); // and its fence timer fires
    }

    // A node that fenced itself must stop renewing its lease, even while its keep-alives still go through and
    // only their answers are late (an etcd leader election, a stalled stream): its keys expire and the others
    // see it fail. Before, the keep-alives went on, etcd kept the lease, and the others waited at every barrier
    // for a node that could no longer act.
    [Fact]
    public async Task FencedNode_StopsRenewingItsLease_TheOthersSeeItFail()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var members = await TwoMembers.JoinAsync(etcd);
        var (two, views) = (members.Two, members.Views);

        var fenced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = two.Liveness.Register(() => fenced.TrySetResult());
        two.IgnoreKeepAliveAcks(true);
        await fenced.Task.WaitAsync(Timeout);
        await two.KeepAliveLoop.WaitAsync(Timeout); // no keep-alive after the fence

        var failed = await NextAsync(views);
        Assert.Equal((2, LeaveReason.ProcessDown), (failed.Left.Single().Member.NodeId, failed.Left.Single().Reason));
        Assert.False(two.IsLive);
    }

    // How a view's Joined and Left are found (no etcd needed): a member key created again is a leave and a join,
    // even with the same lease (the same process left and joined again between two looks, e.g. within one watch
    // response); a tombstone counts only for the lease it names.
    [Theory]
    [InlineData(7L, 20L, 7L, "", "")]                   // nothing changed
    [InlineData(7L, 30L, 7L, "2", "2:Leave")]           // the same process left (tombstone of its lease) and joined again
    [InlineData(8L, 30L, 0L, "2", "2:ProcessDown")]     // a new incarnation, the old one gone without a tombstone
    [InlineData(8L, 30L, 7L, "2", "2:Leave")]           // a new incarnation after a clean leave
    [InlineData(8L, 30L, 9L, "2", "2:ProcessDown")]     // a tombstone of another lease does not make it a leave
    public void Diff_MemberKeyCreatedAgain_IsALeaveAndAJoin(long lease, long created, long tombstone, string joined, string left)
    {
        var one = (new Member(1, IPAddress.Loopback, 5), 10L);
        var before = new[] { one, (new Member(2, IPAddress.Loopback, 7), 20L) };
        var now = new[] { one, (new Member(2, IPAddress.Loopback, lease), created) };
        var tombstones = tombstone == 0 ? new Dictionary<int, long>() : new Dictionary<int, long> { [2] = tombstone };

        var (j, l) = EtcdMembershipProvider.Diff(before, now, tombstones);
        Assert.Equal(joined, string.Join(",", j.Select(m => m.NodeId)));
        Assert.Equal(left, string.Join(",", l.Select(m => $"{m.Member.NodeId}:{m.Reason}")));
    }

    // A leave is not cut short by the caller's token: half done, it would leave the member key behind (and the
    // watcher running), and the others would wait for this node at every barrier. Before, a cancelled token
    // cancelled the delete and the others never saw the leave.
    [Fact]
    public async Task Leave_WithACancelledToken_StillLeaves()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var members = await TwoMembers.JoinAsync(etcd);

        await members.Two.LeaveAsync("ls", new CancellationToken(canceled: true));
        var left = await NextAsync(members.Views);
        Assert.Equal((2, LeaveReason.Leave), (left.Left.Single().Member.NodeId, left.Left.Single().Reason));
        Assert.True(members.Two.IsLive); // a leave that went through fences nothing
    }

    [Fact]
    public async Task StopBarrier_WaitsForEveryMember_SupersededByANewerView()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var one = await ConnectAsync(etcd, 1);
        await using var two = await ConnectAsync(etcd, 2);
        await using var three = await ConnectAsync(etcd, 3);
        await one.JoinAsync("ls", CancellationToken.None);
        await two.JoinAsync("ls", CancellationToken.None);
        var view = await three.JoinAsync("ls", CancellationToken.None);

        var first = one.AwaitAllStoppedAsync("ls", view.Generation, CancellationToken.None);
        var second = two.AwaitAllStoppedAsync("ls", view.Generation, CancellationToken.None);
        await Task.Delay(200); // node 3 has not stopped: nobody may pass
        Assert.False(first.IsCompleted || second.IsCompleted);
        await three.LeaveAsync("ls", CancellationToken.None); // a newer view supersedes the barrier
        Assert.False(await first.WaitAsync(Timeout));
        Assert.False(await second.WaitAsync(Timeout));
    }

    [Fact]
    public async Task SameNodeIdTwice_IsRefused_EvictRemovesANode()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        await using var one = await ConnectAsync(etcd, 1);
        var error = await Assert.ThrowsAsync<MembershipException>(() => ConnectAsync(etcd, 1));
        Assert.Contains("held by a live process", error.Message, StringComparison.Ordinal);

        await using var two = await ConnectAsync(etcd, 2);
        await one.JoinAsync("ls", CancellationToken.None);
        await using var views = one.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
        await two.JoinAsync("ls", CancellationToken.None);
        await NextAsync(views);
        await one.EvictAsync(2, CancellationToken.None);
        var evicted = await NextAsync(views);
        Assert.Equal(2, evicted.Left.Single().Member.NodeId);
    }

    [Fact]
    public async Task EtcdUnavailable_ClearError()
    {
        var error = await Assert.ThrowsAsync<MembershipException>(() => EtcdMembershipProvider.StartAsync(new EtcdMembershipOptions
        {
            Endpoints = ["http://127.0.0.1:1"], NodeId = 1, Address = IPAddress.Loopback, CallTimeout = TimeSpan.FromSeconds(1),
        }));
        Assert.Contains("etcd at http://127.0.0.1:1 is not usable", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EtcdGoneWhileRunning_NodeStopsBeingLiveWithinItsTtl()
    {
        var etcd = await EtcdCluster.StartAsync();
        await using var one = await ConnectAsync(etcd, 1, ttl: 2);
        await one.JoinAsync("ls", CancellationToken.None);
        var fenced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = one.Liveness.Register(() => fenced.TrySetResult());
        Assert.True(one.IsLive);

        await etcd.DisposeAsync(); // no keep-alive can be acknowledged any more: no grant may be trusted
        var gone = TimeProvider.System.GetTimestamp();
        await fenced.Task.WaitAsync(Timeout);
        Assert.False(one.IsLive);

        // The safety property is IsLive (asked before every grant), not when the Liveness token's timer gets a
        // thread on a loaded host: IsLive ends TTL minus the margin (1.5 s) after the last acknowledged keep-alive,
        // which came before etcd was gone, so within the TTL of it, before any survivor could act.
        Assert.True(one.LastAcknowledged <= gone);
    }

    [Fact]
    public async Task ThreeMemberEtcd_LeaderKilled_ViewsContinue()
    {
        await using var etcd = await EtcdCluster.StartAsync(3);
        await using var one = await ConnectAsync(etcd, 1);
        await using var two = await ConnectAsync(etcd, 2);
        await one.JoinAsync("ls", CancellationToken.None);
        await using var views = one.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();

        etcd.Kill(etcd.Leader());
        var joined = await two.JoinAsync("ls", CancellationToken.None).WaitAsync(Timeout); // writes pause during the election, then go on
        Assert.Equal(joined.Generation, (await NextAsync(views)).Generation);
        Assert.False(one.Liveness.IsCancellationRequested);
    }
}

public sealed class EtcdConcurrentJoinTests
{
    [Fact]
    public async Task ThreeNodesJoinAtOnce_AllSeeTheSameLastView()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        var providers = await Task.WhenAll(Enumerable.Range(1, 3).Select(id => EtcdMembershipProvider.StartAsync(new EtcdMembershipOptions
        {
            Endpoints = etcd.Endpoints, NodeId = id, Address = IPAddress.Parse($"127.0.0.{id}"), Ttl = TimeSpan.FromSeconds(6),
        })));
        var views = await Task.WhenAll(providers.Select(p => p.JoinAsync("ls", CancellationToken.None))).WaitAsync(TimeSpan.FromSeconds(20));
        var last = views.Max(v => v.Generation);
        foreach (var (p, v) in providers.Zip(views))
        {
            if (v.Generation == last)
            {
                continue;
            }

            await using var stream = p.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
            MembershipView seen;
            do
            {
                Assert.True(await stream.MoveNextAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(20)));
                seen = stream.Current;
            }
            while (seen.Generation < last);
            Assert.Equal(3, seen.Members.Count);
        }

        var stopped = await Task.WhenAll(providers.Select(p => p.AwaitAllStoppedAsync("ls", last, CancellationToken.None))).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.All(stopped, Assert.True);

        foreach (var p in providers)
        {
            await p.DisposeAsync();
        }
    }
}
