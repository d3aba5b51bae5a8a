using System.Diagnostics;
using System.Net;
using System.Threading.Channels;
using Dlm.Membership.Etcd;
using Microsoft.Extensions.Time.Testing;

namespace Dlm.Membership.Tests;

/// <summary>The keep-alive and watch streams: the liveness clock, stalled and slow streams, progress requests.</summary>
public sealed partial class EtcdMembershipTests
{
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
}
