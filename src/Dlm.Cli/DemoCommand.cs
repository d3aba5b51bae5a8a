using System.Globalization;
using System.Text.Json;
using Dlm.Cli.Demo;

namespace Dlm.Cli;

/// <summary><c>dlm demo</c>: the main job — a real cluster on loopback doing real locking and checking its own result.</summary>
internal static class DemoCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout)
    {
        var options = DemoOptions.Parse(args);
        var result = options.KillOne
            ? await KillDemo.RunAsync(options).ConfigureAwait(false)
            : options.Processes
            ? await ProcessDemo.RunAsync(options).ConfigureAwait(false)
            : await new DemoRunner(options).RunAsync(CancellationToken.None).ConfigureAwait(false);
        if (options.Json)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(result, ReportJson.Options)).ConfigureAwait(false);
        }
        else
        {
            Print(result, stdout);
        }

        return result.Passed ? DlmCli.Ok : DlmCli.Failed;
    }

    /// <summary><c>dlm demo-node --id N ...</c>: one node of <c>dlm demo --processes</c>.</summary>
    public static async Task<int> RunNodeAsync(string[] args, TextWriter stdout, Stream stdin)
    {
        var (id, rest) = ChildProcess.TakeId(args);
        var options = DemoOptions.Parse(rest);
        if (id < 1 || id > options.Nodes)
        {
            throw new UsageException($"--id takes 1..{options.Nodes}");
        }

        using var input = new StreamReader(stdin);
        using var journal = options.Journal is { } path ? new DemoJournal(path) : null;
        return await new DemoRunner(options, recordIntervals: journal is null, journal).RunChildAsync(id, input, stdout).ConfigureAwait(false);
    }

    private static void Print(DemoResult r, TextWriter o)
    {
        var c = CultureInfo.InvariantCulture;
        o.WriteLine(string.Create(c, $"dlm demo: {r.Nodes} nodes{(r.Processes ? " (one process each)" : "")}, lockspace 'demo', {r.Resources} counters in 32-byte LVBs, {r.Seconds:F1} s"));
        if (r.Killed is { } killed)
        {
            var detection = r.Membership == "etcd" ? "its etcd lease expired" : "removed by the administrator";
            o.WriteLine(string.Create(c, $"  kill        : node {killed} (recovery coordinator, master of the plain resources) killed with SIGKILL holding {r.KilledHeldLocks} lock(s); {detection} {r.KillDetectionMs:F0} ms later"));
            o.WriteLine(string.Create(c, $"  recovery    : survivors stopped, recovered and resumed in {r.KillRecoveryMs:F0} ms (view to locking enabled)"));
            if (r.Restarted)
            {
                o.WriteLine(string.Create(c, $"  restart     : node {killed} rejoined as a new incarnation; recovery with it took {r.RestartRecoveryMs:F0} ms"));
            }
        }

        var countersOk = r.Killed is null ? r.CounterSum == r.Increments : r.Violations.All(v => !v.StartsWith("the counters", StringComparison.Ordinal));
        var lost = r.Killed is null ? "" : string.Create(c, $" ({r.LostInFlight} in flight in the killed node, lost with it)");
        o.WriteLine(string.Create(c, $"  counters    : {r.Increments:N0} increments under EX, counters sum to {r.CounterSum:N0}{lost} -> {(countersOk ? "OK" : "MISMATCH")}"));
        o.WriteLine(string.Create(c, $"  safety      : {r.CheckerEvents:N0} grants and releases checked, {r.Violations.Count} incompatible overlaps or regressions -> {(r.Violations.Count == 0 ? "OK" : "FAILED")}"));
        o.WriteLine(string.Create(c, $"  operations  : {r.OperationsPerSecond:N0} locks/s ({r.Increments:N0} EX, {r.Reads:N0} PR reads, {r.CachedGrants:N0} cached PR given up on {r.BlockingHonoured:N0} blocking callbacks)"));
        o.WriteLine(string.Create(c, $"  latency     : mastered here p50 {r.LocalP50:F0} us p99 {r.LocalP99:F0} us ({r.LocalLocks:N0}); remote p50 {r.RemoteP50:F0} us p99 {r.RemoteP99:F0} us ({r.RemoteLocks:N0})"));
        o.WriteLine(string.Create(c, $"  messages    : {r.Messages:N0} delivered, {r.Retransmitted:N0} retransmitted"));
        o.WriteLine(string.Create(c, $"  leave       : lockspace left and FIN handshake done in {r.LeaveMilliseconds:F0} ms"));
        foreach (var v in r.Violations.Take(10))
        {
            o.WriteLine("  VIOLATION   : " + v);
        }

        o.WriteLine(r.Passed ? "PASSED" : "FAILED");
    }
}
