using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Dlm.Cli.Bench;

/// <summary>
/// <c>dlm bench comms --processes</c>: one child process per node (<c>dlm bench comms-node</c>),
/// driven line by line over stdin/stdout: ready → go → connected → send → result JSON → "rtt N U"
/// → N samples (one block of round trips, repeated between raw-TCP blocks) → stop → the delivery
/// counts after shutdown. Resets are injected inside each child, at N times the interval each, so
/// the cluster sees about one per interval.
/// </summary>
internal static class ProcessBench
{
    public static async Task<CommsBenchResult> RunAsync(CommsBenchOptions o, CancellationToken ct)
    {
        var addresses = o.Addresses();
        var (baselineElapsed, _) = await RawTcpBaseline.ThroughputAsync(addresses, o.Port + 1, o.Messages, ct).ConfigureAwait(false);

        var children = Enumerable.Range(1, o.Nodes).Select(i => ChildProcess.Start(ChildArguments(o, i))).ToArray();
        try
        {
            await Task.WhenAll(children.Select(c => c.ExpectAsync("ready"))).ConfigureAwait(false);
            await Task.WhenAll(children.Select(c => c.CommandAsync("go", "connected"))).ConfigureAwait(false);
            var stopwatch = Stopwatch.StartNew();
            var results = await Task.WhenAll(children.Select(c => c.CommandAsync("send", null))).ConfigureAwait(false);
            var elapsed = stopwatch.Elapsed.TotalSeconds;
            var parts = results.Select(r => JsonSerializer.Deserialize<ChildResult>(r)!).ToArray();
            var rtt = parts.All(p => p.Lost == 0)
                ? await RoundTrips.InterleavedAsync(o, addresses, (timed, untimed) => ChildRoundTripsAsync(children[0], timed, untimed), ct).ConfigureAwait(false)
                : RoundTrips.Result.NotMeasured; // a node still waits for messages: no ping would be answered in time
            var shutdown = Stopwatch.StartNew();
            var finals = await Task.WhenAll(children.Select(c => c.CommandAsync("stop", null))).ConfigureAwait(false);
            var shutdownMs = shutdown.Elapsed.TotalMilliseconds;

            // Delivery as each child saw it after its shutdown: a late duplicate counts too.
            var checks = finals.Select(f => JsonSerializer.Deserialize<DeliveryCounts>(f)!).ToArray();
            var total = o.TotalMessages;
            var baseline = total / baselineElapsed.TotalSeconds;
            return CommsBenchResult.Measured(o, elapsed, baseline) with
            {
                Lost = checks.Sum(c => c.Lost),
                Duplicated = checks.Sum(c => c.Duplicated),
                Reordered = checks.Sum(c => c.Reordered),
                RttP50 = rtt.Ours.At(0.5),
                RttP99 = rtt.Ours.At(0.99),
                BaselineRttP50 = rtt.Raw.At(0.5),
                BaselineRttP99 = rtt.Raw.At(0.99),
                RttRatio = Percentiles.Median(rtt.Ratios),
                RttBlockRatios = rtt.Ratios,
                Resets = parts.Sum(p => p.Resets),
                Retransmitted = parts.Sum(p => p.Retransmitted),
                DuplicatesDropped = parts.Sum(p => p.DuplicatesDropped),
                MaxQueuedMessages = parts.Max(p => p.MaxQueued),
                ShutdownMilliseconds = shutdownMs,
                PeakWorkingSetBytes = Math.Max(Process.GetCurrentProcess().PeakWorkingSet64, parts.Max(p => p.PeakWorkingSet)),
            };
        }
        finally
        {
            foreach (var child in children)
            {
                child.Dispose();
            }
        }
    }

    // One block of round trips run by node 1's child: "rtt TIMED UNTIMED", answered with the timed samples.
    private static async Task<Percentiles> ChildRoundTripsAsync(ChildProcess first, int timed, int untimed)
    {
        var line = await first.CommandAsync(string.Create(CultureInfo.InvariantCulture, $"rtt {timed} {untimed}"), null).ConfigureAwait(false);
        var samples = JsonSerializer.Deserialize<double[]>(line, ReportJson.Options)!;
        var block = new Percentiles(samples.Length);
        foreach (var sample in samples)
        {
            block.Add(sample);
        }

        return block;
    }

    /// <summary>The child side: one node, commanded over stdin.</summary>
    public static async Task<int> RunChildAsync(string[] args, TextWriter stdout, Stream stdin)
    {
        var (id, rest) = ChildProcess.TakeId(args);
        var o = CommsBenchOptions.Parse(rest);
        if (id < 1 || id > o.Nodes)
        {
            throw new UsageException($"--id takes 1..{o.Nodes}");
        }

        using var input = new StreamReader(stdin);
        var handler = new BenchHandler(id, o.Nodes, o.Messages);
        var node = CommsBench.StartNodes(o, o.Addresses(), [handler], id)[0];
        await using var _ = node.ConfigureAwait(false);
        await SayAsync(stdout, "ready").ConfigureAwait(false);
        await ExpectLineAsync(input, "go").ConfigureAwait(false);
        await CommsBench.ConnectAsync([node], [handler], CancellationToken.None).ConfigureAwait(false);
        await SayAsync(stdout, "connected").ConfigureAwait(false);
        await ExpectLineAsync(input, "send").ConfigureAwait(false);

        using var phase = new CancellationTokenSource(o.Timeout);
        var resets = o.ResetEveryMs > 0
            ? CommsBench.ResetRandomlyAsync([node], o with { ResetEveryMs = o.ResetEveryMs * o.Nodes, Seed = o.Seed + id }, phase.Token)
            : Task.FromResult(0L);
        var sending = CommsBench.SendAllAsync(node, o.Messages, phase.Token);
        await handler.AllReceived.WaitAsync(phase.Token).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        await sending.ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        await phase.CancelAsync().ConfigureAwait(false);
        var stats = node.GetStatistics();
        var checkers = handler.Checkers.OfType<DeliveryChecker>().ToList();
        var result = new ChildResult(checkers.Sum(c => c.Lost), checkers.Sum(c => c.Duplicated), checkers.Sum(c => c.Reordered),
            await resets.ConfigureAwait(false), stats.Sum(s => s.Retransmitted), stats.Sum(s => s.DuplicatesDropped),
            stats.Max(s => (long)s.QueuedMessages), Process.GetCurrentProcess().PeakWorkingSet64);
        await SayAsync(stdout, JsonSerializer.Serialize(result)).ConfigureAwait(false);

        var command = await input.ReadLineAsync().ConfigureAwait(false);
        while (command?.Split(' ') is ["rtt", var timed, var untimed])
        {
            var rtt = await CommsBench.RoundTripAsync(handler, int.Parse(timed, CultureInfo.InvariantCulture),
                int.Parse(untimed, CultureInfo.InvariantCulture), CancellationToken.None).ConfigureAwait(false);
            await SayAsync(stdout, JsonSerializer.Serialize(rtt.ToArray(), ReportJson.Options)).ConfigureAwait(false);
            command = await input.ReadLineAsync().ConfigureAwait(false);
        }

        if (command == "stop")
        {
            await node.ShutdownAsync().ConfigureAwait(false);
            await SayAsync(stdout, JsonSerializer.Serialize(new DeliveryCounts(checkers.Sum(c => c.Lost), checkers.Sum(c => c.Duplicated),
                checkers.Sum(c => c.Reordered)))).ConfigureAwait(false);
        }

        return DlmCli.Ok;
    }

    private static async Task SayAsync(TextWriter stdout, string line)
    {
        await stdout.WriteLineAsync(line).ConfigureAwait(false);
        await stdout.FlushAsync().ConfigureAwait(false);
    }

    private static async Task ExpectLineAsync(StreamReader input, string expected)
    {
        var line = await input.ReadLineAsync().ConfigureAwait(false);
        if (line != expected)
        {
            throw new InvalidOperationException($"bench child expected '{expected}' from its parent, got '{line}'");
        }
    }

    private static string[] ChildArguments(CommsBenchOptions o, int id)
    {
        var c = CultureInfo.InvariantCulture;
        string[] arguments =
        [
            "bench", "comms-node", "--id", id.ToString(c), "--nodes", o.Nodes.ToString(c), "--messages", o.Messages.ToString(c),
            "--base", o.BaseAddress.ToString(), "--port", o.Port.ToString(c), "--round-trips", o.RoundTrips.ToString(c),
            "--seed", o.Seed.ToString(c), "--timeout", ((int)o.Timeout.TotalSeconds).ToString(c),
        ];
        return o.ResetEveryMs > 0 ? [.. arguments, "--reset-every", o.ResetEveryMs.ToString(c)] : arguments;
    }

    private sealed record ChildResult(long Lost, long Duplicated, long Reordered, long Resets, long Retransmitted,
        long DuplicatesDropped, long MaxQueued, long PeakWorkingSet);

    private sealed record DeliveryCounts(long Lost, long Duplicated, long Reordered);
}
