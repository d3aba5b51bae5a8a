using System.Diagnostics;
using Dlm.Messaging;
using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm.Cli.Bench;

/// <summary>
/// <c>dlm bench comms</c>: N messaging nodes on 127.0.0.x, every node sends counted messages to
/// every other; receivers check exactly-once in-order delivery. The raw-TCP baseline runs first,
/// in the same process, with the same topology and message size.
/// </summary>
internal static class CommsBench
{
    /// <summary>How far a sender may run ahead of the network before it waits (messages queued per peer).</summary>
    private const int MaxQueuedPerPeer = 16 * 1024;

    public static async Task<CommsBenchResult> RunInProcessAsync(CommsBenchOptions o, CancellationToken ct)
    {
        var addresses = o.Addresses();
        var total = o.TotalMessages;
        var checkedRuns = new List<PhaseResult>(); // every DLM run's deliveries count, the warm-up's too
        if (o.Warmup > 0)
        {
            // Warm-up runs, not timed: the JIT tiers both paths up before anything is measured.
            await RawTcpBaseline.ThroughputAsync(addresses, o.Port + 1, o.Warmup, ct).ConfigureAwait(false);
            checkedRuns.Add(await RunPhaseAsync(o with { Messages = o.Warmup, ResetEveryMs = 0, RoundTrips = 1000 }, addresses, ct).ConfigureAwait(false));
        }

        // Rounds alternate baseline and DLM so both see the same machine; medians are reported.
        var baselineRates = new List<double>();
        var baselineCpu = new List<CpuTime>();
        var baselineBusy = new List<double>();
        var runs = new List<PhaseResult>();
        for (var round = 0; round < o.Repeat; round++)
        {
            var (baselineElapsed, cpu) = await RawTcpBaseline.ThroughputAsync(addresses, o.Port + 1, o.Messages, ct).ConfigureAwait(false);
            baselineCpu.Add(cpu);
            baselineBusy.Add(Busy(cpu, baselineElapsed));
            baselineRates.Add(total / baselineElapsed.TotalSeconds);
            runs.Add(await RunPhaseAsync(o with { Seed = o.Seed + round }, addresses, ct).ConfigureAwait(false));
        }

        checkedRuns.AddRange(runs);
        var run = runs.OrderBy(r => r.Elapsed).ElementAt(runs.Count / 2); // the median run
        var seconds = run.Elapsed.TotalSeconds;
        var baseline = Percentiles.Median(baselineRates);
        return CommsBenchResult.Measured(o, seconds, baseline) with
        {
            Lost = checkedRuns.Sum(r => r.Checkers.Sum(c => c.Lost)),
            Duplicated = checkedRuns.Sum(r => r.Checkers.Sum(c => c.Duplicated)),
            Reordered = checkedRuns.Sum(r => r.Checkers.Sum(c => c.Reordered)),
            RttP50 = Percentiles.Median(runs.Select(r => r.Rtt.Ours.At(0.5))),
            CpuNanosecondsPerMessage = Percentiles.Median(runs.Select(r => r.Cpu.Total.TotalNanoseconds / total)),
            CpuUserNanosecondsPerMessage = Percentiles.Median(runs.Select(r => r.Cpu.User.TotalNanoseconds / total)),
            BaselineCpuNanosecondsPerMessage = Percentiles.Median(baselineCpu.Select(c => c.Total.TotalNanoseconds / total)),
            BaselineCpuUserNanosecondsPerMessage = Percentiles.Median(baselineCpu.Select(c => c.User.TotalNanoseconds / total)),
            CpuBusy = Percentiles.Median(runs.Select(r => Busy(r.Cpu, r.Elapsed))),
            BaselineCpuBusy = Percentiles.Median(baselineBusy),
            RttP99 = Percentiles.Median(runs.Select(r => r.Rtt.Ours.At(0.99))),
            BaselineRttP50 = Percentiles.Median(runs.Select(r => r.Rtt.Raw.At(0.5))),
            BaselineRttP99 = Percentiles.Median(runs.Select(r => r.Rtt.Raw.At(0.99))),
            RttRatio = Percentiles.Median(runs.SelectMany(r => r.Rtt.Ratios)),
            RttBlockRatios = [.. runs.SelectMany(r => r.Rtt.Ratios)],
            Resets = runs.Sum(r => r.Resets),
            Retransmitted = runs.Sum(r => r.Statistics.Sum(s => s.Retransmitted)),
            DuplicatesDropped = runs.Sum(r => r.Statistics.Sum(s => s.DuplicatesDropped)),
            MaxQueuedMessages = runs.Max(r => r.MaxQueued),
            ShutdownMilliseconds = run.Shutdown.TotalMilliseconds,
            PeakWorkingSetBytes = Process.GetCurrentProcess().PeakWorkingSet64,
        };
    }

    // The share of the processors this process may run on that it kept busy over a phase.
    private static double Busy(CpuTime cpu, TimeSpan elapsed) => cpu.Total / (elapsed * Environment.ProcessorCount);

    private sealed record PhaseResult(TimeSpan Elapsed, CpuTime Cpu, List<DeliveryChecker> Checkers, List<PeerStatistics> Statistics,
        long MaxQueued, long Resets, RoundTrips.Result Rtt, TimeSpan Shutdown);

    // Start the nodes, connect, send, check, measure round trips, leave with the FIN handshake.
    private static async Task<PhaseResult> RunPhaseAsync(CommsBenchOptions o, System.Net.IPAddress[] addresses, CancellationToken ct)
    {
        var handlers = Enumerable.Range(1, o.Nodes).Select(i => new BenchHandler(i, o.Nodes, o.Messages)).ToArray();
        var nodes = StartNodes(o, addresses, handlers);
        try
        {
            await ConnectAsync(nodes, handlers, ct).ConfigureAwait(false);
            using var phase = CancellationTokenSource.CreateLinkedTokenSource(ct);
            phase.CancelAfter(o.Timeout);
            var sampler = SampleQueuesAsync(nodes, phase.Token);
            var resets = o.ResetEveryMs > 0 ? ResetRandomlyAsync(nodes, o, phase.Token) : Task.FromResult(0L);

            var cpuBefore = CpuTime.Now();
            var stopwatch = Stopwatch.StartNew();
            var sending = nodes.Select(n => Task.Run(() => SendAllAsync(n, o.Messages, phase.Token), phase.Token)).ToArray();
            var completed = await Task.WhenAll(handlers.Select(h => h.AllReceived)).WaitAsync(phase.Token)
                .ContinueWith(t => t.IsCompletedSuccessfully, TaskScheduler.Default).ConfigureAwait(false);
            var elapsed = stopwatch.Elapsed;
            var cpu = CpuTime.Now() - cpuBefore;
            await phase.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(sending).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            var maxQueued = await sampler.ConfigureAwait(false);
            var resetCount = await resets.ConfigureAwait(false);

            var rtt = completed
                ? await RoundTrips.InterleavedAsync(o, addresses, (timed, untimed) => RoundTripAsync(handlers[0], timed, untimed, ct), ct).ConfigureAwait(false)
                : RoundTrips.Result.NotMeasured;
            var stats = nodes.SelectMany(n => n.GetStatistics()).ToList();
            var shutdown = Stopwatch.StartNew();
            await Task.WhenAll(nodes.Select(n => n.ShutdownAsync())).ConfigureAwait(false);
            var checkers = handlers.SelectMany(h => h.Checkers.OfType<DeliveryChecker>()).ToList();
            return new PhaseResult(elapsed, cpu, checkers, stats, maxQueued, resetCount, rtt, shutdown.Elapsed);
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    internal static MessagingNode[] StartNodes(CommsBenchOptions o, System.Net.IPAddress[] addresses, BenchHandler[] handlers, int? only = null)
    {
        var book = Enumerable.Range(1, o.Nodes).Select(i => new NodeAddress(i, [addresses[i - 1]])).ToList();
        var ids = only is { } id ? [id] : Enumerable.Range(1, o.Nodes);
        var nodes = ids.Select(i => new MessagingNode(
            new MessagingOptions { Transport = new TransportOptions { Addresses = new AddressBook(i, book), Port = o.Port, RandomSeed = o.Seed + i, LoggerFactory = CliLogging.Factory } },
            handlers[only is null ? i - 1 : 0])).ToArray();
        foreach (var (node, handler) in nodes.Zip(only is null ? handlers : [handlers[0]]))
        {
            handler.Node = node;
            node.Start();
        }

        return nodes;
    }

    // Membership first (eager connect), then the stateless STATUS ping that detects versions (spec §2.8).
    internal static async Task ConnectAsync(IEnumerable<MessagingNode> nodes, IEnumerable<BenchHandler> handlers, CancellationToken ct)
    {
        var payload = new byte[WireLimits.RcomStatusSize];
        foreach (var node in nodes)
        {
            foreach (var peer in node.Transport.Peers)
            {
                node.AddMember(peer.NodeId);
                node.SendRcom(peer.NodeId, BenchMessages.Lockspace, new RcomHeader(RcomType.Status, 0, 1, 1, 0), payload);
            }
        }

        await Task.WhenAll(handlers.Select(h => h.AllPinged)).WaitAsync(TimeSpan.FromSeconds(30), ct).ConfigureAwait(false);
    }

    internal static async Task SendAllAsync(MessagingNode node, long messages, CancellationToken ct)
    {
        var peers = node.Transport.Peers.Select(p => p.NodeId).ToArray();
        var message = BenchMessages.Counted(0); // built once, its counter patched per message, as the raw baseline patches a template
        for (long i = 0; i < messages; i++)
        {
            message.LockId = (uint)i;
            foreach (var peer in peers)
            {
                node.SendMessage(peer, BenchMessages.Lockspace, message, BenchMessages.Name);
            }

            if ((i & 1023) == 1023)
            {
                foreach (var peer in peers)
                {
                    await node.WaitForSendCapacityAsync(peer, MaxQueuedPerPeer, ct).ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>One block of our ping-pong with node 2 (see <see cref="RoundTrips"/>).</summary>
    internal static Task<Percentiles> RoundTripAsync(BenchHandler handler, int iterations, int untimed, CancellationToken ct) =>
        handler.PingPongAsync(2, iterations, untimed).WaitAsync(TimeSpan.FromSeconds(60), ct);

    private static async Task<long> SampleQueuesAsync(MessagingNode[] nodes, CancellationToken ct)
    {
        long max = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20));
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                foreach (var node in nodes)
                {
                    foreach (var s in node.GetStatistics())
                    {
                        max = Math.Max(max, s.QueuedMessages);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return max;
    }

    internal static async Task<long> ResetRandomlyAsync(MessagingNode[] nodes, CommsBenchOptions o, CancellationToken ct)
    {
        var random = new Random(o.Seed);
        long resets = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(o.ResetEveryMs));
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                var node = nodes[random.Next(nodes.Length)];
                var peers = node.Transport.Peers.Where(p => p.IsConnected).ToArray();
                if (peers.Length > 0)
                {
                    peers[random.Next(peers.Length)].Abort();
                    resets++;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return resets;
    }
}
