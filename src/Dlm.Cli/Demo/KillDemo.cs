using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Dlm.Cli.Demo;

/// <summary>
/// <c>dlm demo --processes --kill-one [--restart]</c>: static membership from a cluster file; node 2
/// masters the counters, node 1 (the recovery coordinator) masters the plain resources and is killed
/// with SIGKILL mid-run. The parent acts as the administrator and fencer: it removes node 1 from the
/// file (the survivors stop, recover and go on), and with --restart adds it back and starts a new
/// incarnation. Every node's grants and releases go to a journal on disk, so the killed node's are
/// checked too; the counters must match the increments, less at most the killed node's in-flight ones.
/// </summary>
internal static class KillDemo
{
    public static async Task<DemoResult> RunAsync(DemoOptions o)
    {
        var directory = Directory.CreateTempSubdirectory("dlm-demo-").FullName;
        var config = Path.Combine(directory, "cluster.json");
        var cluster = o.Cluster();
        if (o.Etcd is { } endpoints)
        {
            // A fresh key prefix per run: nothing left by an earlier run counts as a member.
            cluster = cluster with { Etcd = new EtcdSettings { Endpoints = endpoints, TtlSeconds = 2, Prefix = $"/dlm-demo/{Path.GetFileName(directory)}" } };
        }

        cluster.Save(config);
        string Journal(int id, int incarnation) => Path.Combine(directory, $"journal.{id}.{incarnation}");
        var children = Enumerable.Range(1, o.Nodes).ToDictionary(id => id, id => ChildProcess.Start(Arguments(o, id, config, Journal(id, 1), o.Seconds)));
        ChildProcess? restarted = null;
        try
        {
            await Task.WhenAll(children.Values.Select(c => c.ExpectAsync("joined"))).ConfigureAwait(false);
            await KeepAsync(children, DemoOptions.CounterMaster, "keep").ConfigureAwait(false);
            await KeepAsync(children, DemoOptions.Victim, "keep-plain").ConfigureAwait(false);
            var stopwatch = Stopwatch.StartNew();
            var work = children.ToDictionary(c => c.Key, c => c.Value.CommandAsync("go", null));
            await Task.Delay(TimeSpan.FromSeconds(o.Seconds * 0.3), TimeProvider.System).ConfigureAwait(false);

            children[DemoOptions.Victim].Kill();
            var killedAt = Stopwatch.GetTimestamp();
            if (o.Etcd is null)
            {
                ClusterConfiguration.Load(config).WithMember(DemoOptions.Victim, member: false).Save(config); // the administrator fences and removes it
            }
            _ = work[DemoOptions.Victim].ContinueWith(t => t.Exception, TaskScheduler.Default); // it never answers

            Task<string>? restartedWork = null;
            if (o.Restart)
            {
                // With etcd the node id is free again only once the killed process's lease expired (TTL 2 s).
                var pause = o.Etcd is null ? o.Seconds * 0.3 : Math.Max(o.Seconds * 0.3, 3.5);
                await Task.Delay(TimeSpan.FromSeconds(pause), TimeProvider.System).ConfigureAwait(false);
                if (o.Etcd is null)
                {
                    ClusterConfiguration.Load(config).WithMember(DemoOptions.Victim, member: true).Save(config);
                }

                var remaining = Math.Max(0.5, o.Seconds - stopwatch.Elapsed.TotalSeconds);
                restarted = ChildProcess.Start(Arguments(o, DemoOptions.Victim, config, Journal(DemoOptions.Victim, 2), remaining));
                await restarted.ExpectAsync("joined").ConfigureAwait(false);
                await restarted.CommandAsync("keep", "ready").ConfigureAwait(false);
                restartedWork = restarted.CommandAsync("go", null);
            }

            var survivors = children.Keys.Where(id => id != DemoOptions.Victim).ToArray();
            var lines = (await Task.WhenAll(survivors.Select(id => work[id])).ConfigureAwait(false)).ToList();
            if (restartedWork is not null)
            {
                lines.Add(await restartedWork.ConfigureAwait(false));
            }

            var elapsed = stopwatch.Elapsed.TotalSeconds;
            var reports = lines.Select(l => JsonSerializer.Deserialize<DemoRunner.ChildReport>(l, ReportJson.Options)!).ToArray();
            var sums = JsonSerializer.Deserialize<long[]>(await children[DemoOptions.CounterMaster].CommandAsync("sum", null).ConfigureAwait(false))!;
            var leave = Stopwatch.StartNew();
            await Task.WhenAll(survivors.Select(id => children[id]).Append(restarted).OfType<ChildProcess>()
                .Select(c => c.CommandAsync("stop", "stopped"))).ConfigureAwait(false);
            var leaveMs = leave.Elapsed.TotalMilliseconds;

            var killed = DemoJournal.Read(Journal(DemoOptions.Victim, 1), killedAt);
            var intervals = new List<SafetyChecker.Interval>(killed.Intervals);
            foreach (var id in survivors)
            {
                intervals.AddRange(DemoJournal.Read(Journal(id, 1), long.MaxValue).Intervals);
            }

            if (o.Restart)
            {
                intervals.AddRange(DemoJournal.Read(Journal(DemoOptions.Victim, 2), long.MaxValue).Intervals);
            }

            var violations = SafetyChecker.FindOverlaps(intervals).Concat(reports.SelectMany(r => r.Regressions)).ToList();
            var increments = reports.Sum(r => r.Increments) + killed.Increments;
            var inFlight = Math.Min(killed.Increments, o.Writers); // counted before its write-back; the kill may have cut it
            var sum = sums.Sum();
            if (sum > increments || sum < increments - inFlight)
            {
                violations.Add($"the counters sum to {sum}, but {increments} increments were made (at most {inFlight} of the killed node's may be lost)");
            }

            var survivorReports = reports.Take(survivors.Length).ToArray();
            return ProcessDemo.Merge(o, reports, elapsed, increments, sum, violations, leaveMs) with
            {
                CheckerEvents = intervals.Count * 2,
                Killed = DemoOptions.Victim,
                KilledHeldLocks = killed.Open,
                LostInFlight = increments - sum,
                KillDetectionMs = Detection(survivorReports, killedAt),
                KillRecoveryMs = RecoveryAfter(survivorReports, killedAt)?.Milliseconds ?? double.NaN,
                Restarted = o.Restart,
                RestartRecoveryMs = o.Restart ? reports.Select(r => r.Recoveries[^1].Milliseconds).Max() : double.NaN,
                Membership = o.Etcd is null ? "static" : "etcd",
            };
        }
        finally
        {
            foreach (var child in children.Where(c => c.Key != DemoOptions.Victim).Select(c => c.Value).Append(restarted).OfType<ChildProcess>())
            {
                child.Dispose();
            }

            children[DemoOptions.Victim].Dispose();
            Directory.Delete(directory, recursive: true);
        }
    }

    // The first node takes its keepers alone (so it masters those resources), then the others.
    private static async Task KeepAsync(Dictionary<int, ChildProcess> children, int first, string command)
    {
        await children[first].CommandAsync(command, "ready").ConfigureAwait(false);
        await Task.WhenAll(children.Where(c => c.Key != first).Select(c => c.Value.CommandAsync(command, "ready"))).ConfigureAwait(false);
    }

    // The survivors' first recovery that ended after the kill (the slowest survivor's).
    private static DemoRunner.RecoveryReport? RecoveryAfter(IEnumerable<DemoRunner.ChildReport> reports, long killedAt) =>
        reports.Select(r => r.Recoveries.FirstOrDefault(x => x.CompletedAt > killedAt)).OfType<DemoRunner.RecoveryReport>()
            .MaxBy(x => x.Milliseconds);

    // From the kill to the membership view on the survivors: the administrator's action, or the etcd lease expiring.
    private static double Detection(IEnumerable<DemoRunner.ChildReport> reports, long killedAt) =>
        RecoveryAfter(reports, killedAt) is { } r
            ? Stopwatch.GetElapsedTime(killedAt, r.CompletedAt).TotalMilliseconds - r.Milliseconds
            : double.NaN;

    private static string[] Arguments(DemoOptions o, int id, string config, string journal, double seconds) =>
    [
        .. ProcessDemo.ChildArguments(o with { Seconds = seconds }, id),
        "--plain", o.Plain.ToString(CultureInfo.InvariantCulture), "--config", config, "--journal", journal,
    ];
}
