using System.Diagnostics;
using System.Net;
using System.Threading.Channels;
using Dlm.Membership.Etcd;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Dlm.Membership.Tests;

/// <summary>The etcd provider against private etcd instances (docs/membership.md).</summary>
public sealed class EtcdMembershipTests
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

    // The liveness clock moves to when an answered keep-alive was sent, not to when its answer was read: a process
    // paused in between (past its TTL, say) must not count the pause as proven membership, or it could grant a
    // lock after the others had recovered its locks. The answers are held, and the clock is fake, to make that pause.
    [Fact]
    public async Task KeepAliveAnswer_MovesTheLivenessClockToWhenItsRequestWasSent()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(1)); // call deadlines are read from it: far enough ahead
        var answers = Channel.CreateUnbounded<TaskCompletionSource>();
        await using var node = await EtcdMembershipProvider.StartAsync(new EtcdMembershipOptions
        {
            Endpoints = etcd.Endpoints, NodeId = 1, Address = IPAddress.Parse("127.0.0.1"), Ttl = TimeSpan.FromSeconds(6), TimeProvider = time,
            BeforeKeepAliveAnswer = async (_, _) =>
            {
                var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                await answers.Writer.WriteAsync(release, CancellationToken.None);
                await release.Task;
            },
        });

        var first = await answers.Reader.ReadAsync().AsTask().WaitAsync(Timeout); // the answer to the keep-alive sent at the start
        var sentAt = time.GetTimestamp(); // the fake clock has not moved since
        time.Advance(TimeSpan.FromSeconds(1)); // a pause before the answer is read
        first.SetResult();

        // The next keep-alive goes TTL/6 (1 s) after the first was written, whenever its timer started on this fake clock:
        // move the clock a second at a time (staying inside the 5 s liveness window) until its answer is in.
        var next = answers.Reader.ReadAsync().AsTask();
        for (var i = 0; i < 3 && !next.IsCompleted; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(next, Task.Delay(TimeSpan.FromSeconds(2)));
        }

        var second = await next.WaitAsync(Timeout); // answers are read in order: the first one is in
        Assert.Equal(sentAt, node.LastAcknowledged);
        second.SetResult();
    }

    // A keep-alive stream whose answers stop coming while its connection stays up (an etcd member that hangs, or
    // lost its leader) is given up for a new one once its oldest request has waited TTL/3, so the node stays live.
    // Before, requests kept going to the stalled stream and the node fenced itself when its window ran out. The first
    // stream's reader hangs behind the first answer, held for good.
    [Fact]
    public async Task KeepAliveStreamStalls_ANewStreamKeepsTheNodeLive()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stalled = new TaskCompletionSource();
        var answers = 0;
        await using var node = await EtcdMembershipProvider.StartAsync(new EtcdMembershipOptions
        {
            Endpoints = etcd.Endpoints, NodeId = 1, Address = IPAddress.Parse("127.0.0.1"), Ttl = TimeSpan.FromSeconds(9),
            BeforeKeepAliveAnswer = (_, _) =>
            {
                if (Interlocked.Increment(ref answers) > 1)
                {
                    return Task.CompletedTask;
                }

                held.SetResult();
                return stalled.Task;
            },
        });
        await held.Task.WaitAsync(Timeout);
        var heldAt = node.LastAcknowledged; // the first answer moved nothing

        // The window is 8 s (TTL 9 s less the 1 s margin); the stream is given up when the held request has waited TTL/3, 3 s in.
        Assert.True(SpinWait.SpinUntil(() => node.LastAcknowledged > heldAt || node.Liveness.IsCancellationRequested, Timeout), "no answer at all");
        Assert.False(node.Liveness.IsCancellationRequested, "fenced: the stalled stream was kept");
        Assert.True(node.KeepAliveStreams >= 2);
        Assert.True(node.IsLive);
        stalled.SetResult();
    }

    // etcd answers the watch's progress requests with an empty response, so a quiet lockspace's healthy stream is
    // heard from and never cut for silence.
    [Fact]
    public async Task WatchProgressRequests_AreAnswered()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        var progress = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var one = await EtcdMembershipProvider.StartAsync(new EtcdMembershipOptions
        {
            Endpoints = etcd.Endpoints, NodeId = 1, Address = IPAddress.Parse("127.0.0.1"), Ttl = TimeSpan.FromSeconds(2),
            BeforeWatchResponse = (response, _) =>
            {
                if (!response.Created && !response.Canceled && response.CompactRevision == 0 && response.Events.Count == 0)
                {
                    progress.TrySetResult();
                }

                return Task.CompletedTask;
            },
        });
        await one.JoinAsync("ls", CancellationToken.None);
        await progress.Task.WaitAsync(Timeout);
        Assert.True(one.IsLive);
    }

    // An etcd that is only slow, its answers later than TTL/3 but well within the window, must not be abandoned
    // stream after stream: a stream that keeps answering is not given up, one given up before its first answer
    // doubles the next one's wait, and the answers still on their way to a stream given up count. Each answer is
    // held until 6.3 s after its request was sent, so the latency holds however many requests are in flight, and
    // is lost if its stream is cancelled first, as on the wire.
    [Fact]
    public async Task KeepAliveAnswersSlowButSteady_AtMostOneStreamGivenUp_NodeLive()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        var latency = TimeSpan.FromSeconds(6.3);
        var answers = 0;
        var log = Channel.CreateUnbounded<string>();
        await using var node = await EtcdMembershipProvider.StartAsync(new EtcdMembershipOptions
        {
            Endpoints = etcd.Endpoints, NodeId = 1, Address = IPAddress.Parse("127.0.0.1"), Ttl = TimeSpan.FromSeconds(10),
            LoggerFactory = new LinesLogged(log.Writer),
            BeforeKeepAliveAnswer = async (sentAt, stream) =>
            {
                var left = latency - Stopwatch.GetElapsedTime(sentAt);
                if (left > TimeSpan.Zero)
                {
                    await Task.Delay(left, stream); // an answer still on its way is lost when its stream is cancelled
                }

                Interlocked.Increment(ref answers);
            },
        });

        // TTL 10 s: requests every 1.67 s; the first stream, unanswered for 3.33 s, is given up; the next waits 6.67 s.
        // The window is 9 s, and the next stream's first answer comes 9.63 s in: only the first stream's late answers
        // (at 6.3 and 7.97 s), taken while it lingers, keep the node live until then.
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref answers) >= 4 || node.Liveness.IsCancellationRequested, Timeout), "too few answers");
        Assert.False(node.Liveness.IsCancellationRequested, "fenced: streams given up one after another, or the answers on their way to one given up lost");
        log.Writer.TryComplete();
        var lines = new List<string>();
        await foreach (var line in log.Reader.ReadAllAsync())
        {
            lines.Add(line);
        }

        Assert.True(node.KeepAliveStreams <= 2, string.Join(" | ", lines)); // one if its first answer came before the first check found it late
        Assert.True(node.IsLive);
    }

    // A watch stream that goes quiet while its connection stays up (an etcd member that hangs, or lost its leader)
    // is cut once it has said nothing for a TTL, although asked for progress every TTL/2, and opened again from the
    // same revision, so the change it held back arrives. Before, this node never saw it. Here the stream's reader
    // holds the response with the change, as a hung member would.
    [Fact]
    public async Task WatchStreamStalls_ANewStreamDeliversTheChange()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        var hold = 0; // 1: hold the next response with events (then 2)
        await using var one = await EtcdMembershipProvider.StartAsync(new EtcdMembershipOptions
        {
            Endpoints = etcd.Endpoints, NodeId = 1, Address = IPAddress.Parse("127.0.0.1"), Ttl = TimeSpan.FromSeconds(4),
            BeforeWatchResponse = (response, ct) => response.Events.Count > 0 && Interlocked.CompareExchange(ref hold, 2, 1) == 1
                ? Task.Delay(System.Threading.Timeout.InfiniteTimeSpan, ct)
                : Task.CompletedTask,
        });
        await using var two = await ConnectAsync(etcd, 2);
        await one.JoinAsync("ls", CancellationToken.None);
        await using var views = one.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
        await two.JoinAsync("ls", CancellationToken.None);
        Assert.Equal(2, (await NextAsync(views)).Joined.Single().NodeId);

        Volatile.Write(ref hold, 1);
        await two.LeaveAsync("ls", CancellationToken.None);
        var left = await NextAsync(views);
        Assert.Equal((2, LeaveReason.Leave), (left.Left.Single().Member.NodeId, left.Left.Single().Reason));
        Assert.Equal(2, Volatile.Read(ref hold)); // the first stream did hold it back
        Assert.True(one.IsLive);
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
