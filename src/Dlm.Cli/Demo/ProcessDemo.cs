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
        var children = Enumerable.Range(1, o.Nodes).Select(i => Start(o, i)).ToArray();
        try
        {
            await Task.WhenAll(children.Select(c => ExpectAsync(c, "joined"))).ConfigureAwait(false);
            await Task.WhenAll(children.Select(c => CommandAsync(c, "keep", "ready"))).ConfigureAwait(false);
            var stopwatch = Stopwatch.StartNew();
            var lines = await Task.WhenAll(children.Select(c => CommandAsync(c, "go", null))).ConfigureAwait(false);
            var elapsed = stopwatch.Elapsed.TotalSeconds;
            var reports = lines.Select(l => JsonSerializer.Deserialize<DemoRunner.ChildReport>(l, DemoJson.Options)!).ToArray();
            var sums = JsonSerializer.Deserialize<long[]>(await CommandAsync(children[0], "sum", null).ConfigureAwait(false))!;
            var leave = Stopwatch.StartNew();
            await Task.WhenAll(children.Select(c => CommandAsync(c, "stop", "stopped"))).ConfigureAwait(false);

            var increments = reports.Sum(r => r.Increments);
            var violations = SafetyChecker.FindOverlaps(reports.SelectMany(r => r.Intervals))
                .Concat(reports.SelectMany(r => r.Regressions)).ToList();
            if (sums.Sum() != increments)
            {
                violations.Add($"the counters sum to {sums.Sum()} but {increments} increments were made");
            }

            return new DemoResult
            {
                Nodes = o.Nodes,
                Processes = true,
                Resources = o.Resources,
                Seconds = elapsed,
                Increments = increments,
                CounterSum = sums.Sum(),
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
                LeaveMilliseconds = leave.Elapsed.TotalMilliseconds,
                Passed = violations.Count == 0 && increments > 0,
            };
        }
        finally
        {
            foreach (var child in children)
            {
                if (!child.HasExited && !child.WaitForExit(5000))
                {
                    child.Kill();
                }

                child.Dispose();
            }
        }
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }

    private static Process Start(DemoOptions o, int id)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find the dlm executable to start child processes");
        var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(ProcessDemo).Assembly.Location);
        }

        var c = CultureInfo.InvariantCulture;
        foreach (var arg in new[]
        {
            "demo-node", "--id", id.ToString(c), "--nodes", o.Nodes.ToString(c), "--resources", o.Resources.ToString(c),
            "--writers", o.Writers.ToString(c), "--seconds", o.Seconds.ToString(c), "--base", o.BaseAddress.ToString(),
            "--port", o.Port.ToString(c), "--seed", o.Seed.ToString(c),
        })
        {
            start.ArgumentList.Add(arg);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("could not start a demo node process");
    }

    private static async Task<string> ExpectAsync(Process child, string? expected)
    {
        var line = await child.StandardOutput.ReadLineAsync().ConfigureAwait(false)
            ?? throw new InvalidOperationException($"demo node process {child.Id} exited (code {(child.HasExited ? child.ExitCode : -1)})");
        return expected is not null && line != expected
            ? throw new InvalidOperationException($"demo node process {child.Id} said '{line}', expected '{expected}'")
            : line;
    }

    private static async Task<string> CommandAsync(Process child, string command, string? expected)
    {
        await child.StandardInput.WriteLineAsync(command).ConfigureAwait(false);
        await child.StandardInput.FlushAsync().ConfigureAwait(false);
        return await ExpectAsync(child, expected).ConfigureAwait(false);
    }
}
