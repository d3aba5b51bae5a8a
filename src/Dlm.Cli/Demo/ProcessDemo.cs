using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Dlm.Cli.Demo;

/// <summary>
/// <c>dlm demo --processes</c>: one child process per node. The holding intervals every child
/// records on the machine's monotonic clock are merged and checked for incompatible overlaps here.
/// </summary>
internal static class ProcessDemo
{
    public static async Task<DemoResult> RunAsync(DemoOptions o)
    {
        var children = Enumerable.Range(1, o.Nodes).Select(i => ChildProcess.Start(ChildArguments(o, i))).ToArray();
        try
        {
            await Task.WhenAll(children.Select(c => c.ExpectAsync("joined"))).ConfigureAwait(false);
            await Task.WhenAll(children.Select(c => c.CommandAsync("keep", "ready"))).ConfigureAwait(false);
            var stopwatch = Stopwatch.StartNew();
            var lines = await Task.WhenAll(children.Select(c => c.CommandAsync("go", null))).ConfigureAwait(false);
            var elapsed = stopwatch.Elapsed.TotalSeconds;
            var reports = lines.Select(l => JsonSerializer.Deserialize<DemoRunner.ChildReport>(l, ReportJson.Options)!).ToArray();
            var sums = JsonSerializer.Deserialize<long[]>(await children[0].CommandAsync("sum", null).ConfigureAwait(false))!;
            var leave = Stopwatch.StartNew();
            await Task.WhenAll(children.Select(c => c.CommandAsync("stop", "stopped"))).ConfigureAwait(false);

            var increments = reports.Sum(r => r.Increments);
            var violations = SafetyChecker.FindOverlaps(reports.SelectMany(r => r.Intervals))
                .Concat(reports.SelectMany(r => r.Regressions)).ToList();
            if (sums.Sum() != increments)
            {
                violations.Add($"the counters sum to {sums.Sum()} but {increments} increments were made");
            }

            return Merge(o, reports, elapsed, increments, sums.Sum(), violations, leave.Elapsed.TotalMilliseconds);
        }
        finally
        {
            foreach (var child in children)
            {
                child.Dispose();
            }
        }
    }

    /// <summary>One result from the children's reports.</summary>
    internal static DemoResult Merge(DemoOptions o, DemoRunner.ChildReport[] reports, double elapsed, long increments, long sum,
        List<string> violations, double leaveMilliseconds) => new()
    {
        Nodes = o.Nodes,
        Processes = true,
        Resources = o.Resources,
        Seconds = elapsed,
        Increments = increments,
        CounterSum = sum,
        Reads = reports.Sum(r => r.Reads),
        CachedGrants = reports.Sum(r => r.CachedGrants),
        BlockingHonoured = reports.Sum(r => r.Basts),
        OperationsPerSecond = reports.Sum(r => r.Increments + r.Reads + r.CachedGrants) / elapsed,
        LocalP50 = Median(reports.Select(r => r.LocalP50)),
        LocalP99 = reports.Max(r => double.IsNaN(r.LocalP99) ? 0 : r.LocalP99),
        RemoteP50 = Median(reports.Select(r => r.RemoteP50)),
        RemoteP99 = reports.Max(r => double.IsNaN(r.RemoteP99) ? 0 : r.RemoteP99),
        LocalLocks = reports.Sum(r => r.LocalLocks),
        RemoteLocks = reports.Sum(r => r.RemoteLocks),
        Messages = reports.Sum(r => r.Messages),
        Retransmitted = reports.Sum(r => r.Retransmitted),
        CheckerEvents = reports.Sum(r => r.CheckerEvents),
        Violations = violations,
        LeaveMilliseconds = leaveMilliseconds,
        Passed = violations.Count == 0 && increments > 0,
    };

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }

    internal static string[] ChildArguments(DemoOptions o, int id)
    {
        var c = CultureInfo.InvariantCulture;
        return
        [
            "demo-node", "--id", id.ToString(c), "--nodes", o.Nodes.ToString(c), "--resources", o.Resources.ToString(c),
            "--writers", o.Writers.ToString(c), "--seconds", o.Seconds.ToString(c), "--base", o.BaseAddress.ToString(),
            "--port", o.Port.ToString(c), "--seed", o.Seed.ToString(c),
        ];
    }
}
