using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Dlm.Membership;
using Dlm.Protocol;

namespace Dlm.Cli.Bench;

/// <summary>
/// <c>dlm bench recovery</c>: 3 nodes (one process, real TCP on loopback, in-memory membership) hold
/// L locks: PR on L/3 resources from every node, each node mastering a third. Node 3 fails; the time from
/// the membership view to locking enabled again is measured on the survivors, who remaster node 3's
/// resources and rebuild their locks there (RCOM_LOCK). Failure detection is not in it: with etcd it is the
/// lease TTL (reported by the etcd tests), with static membership the administrator's action.
/// </summary>
internal static class RecoveryBench
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout)
    {
        var locks = 10_000;
        var json = false;
        var baseAddress = IPAddress.Parse("127.0.0.1");
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--locks": locks = int.TryParse(Value(), CultureInfo.InvariantCulture, out var l) && l is >= 3 and <= 3_000_000 ? l : throw new UsageException("--locks takes 3..3000000"); break;
                case "--json": json = true; break;
                case "--base": baseAddress = IPAddress.TryParse(Value(), out var a) ? a : throw new UsageException("--base takes an IPv4 address"); break;
                default: throw new UsageException($"unknown option for 'dlm bench recovery': {args[i]}");
            }
        }

        var cluster = LockBench.Cluster(baseAddress, 3);
        var service = new InMemoryMembership();
        var nodes = await Task.WhenAll(Enumerable.Range(1, 3).Select(id => DlmNode.StartAsync(new DlmNodeOptions
        {
            Cluster = cluster, NodeId = id, Membership = service.Connect(id), LoggerFactory = CliLogging.Factory,
        }))).ConfigureAwait(false);
        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("bench"))).ConfigureAwait(false);
        var resources = locks / 3;
        var names = Enumerable.Range(0, resources).Select(r => $"r/{r:D7}").ToArray();
        var setup = Stopwatch.StartNew();
        // Each node first takes the third it will master, then everyone takes the rest.
        await Task.WhenAll(spaces.Select((s, n) => LockAllAsync(s, names.Where((_, r) => r % 3 == n)))).ConfigureAwait(false);
        await Task.WhenAll(spaces.Select((s, n) => LockAllAsync(s, names.Where((_, r) => r % 3 != n)))).ConfigureAwait(false);
        var setupSeconds = setup.Elapsed.TotalSeconds;

        var generation = service.GenerationOf("bench");
        service.Fail(3);
        var survivors = spaces.Take(2).ToArray();
        var wait = Stopwatch.StartNew();
        while (survivors.Any(s => !s.RecoveryHistory.Any(r => r.Generation > generation)) && wait.Elapsed < TimeSpan.FromMinutes(5))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(5), TimeProvider.System).ConfigureAwait(false);
        }

        var recovery = survivors.Select(s => s.RecoveryHistory[^1].Time.TotalMilliseconds).Max();
        var rebuilt = survivors.Sum(s => s.LocksRebuilt);
        // A survivor's EX on one of node 3's resources: blocked only by the other survivor's PR now.
        var probe = Stopwatch.StartNew();
        var exclusive = await spaces[0].TryLockAsync(names[2], LockMode.Exclusive).ConfigureAwait(false);
        var probeMs = probe.Elapsed.TotalMilliseconds;
        var result = new
        {
            locks = resources * 3,
            resources,
            setup_s = Math.Round(setupSeconds, 2),
            recovery_ms = Math.Round(recovery, 1),
            locks_rebuilt = rebuilt,
            first_request_after_ms = Math.Round(probeMs, 2),
            survivors_enforce_old_locks = exclusive is null,
        };
        foreach (var node in nodes)
        {
            await node.DisposeAsync().ConfigureAwait(false);
        }

        if (json)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(result, ReportJson.Options)).ConfigureAwait(false);
        }
        else
        {
            var c = CultureInfo.InvariantCulture;
            await stdout.WriteLineAsync(string.Create(c, $"dlm bench recovery: 3 nodes, {result.locks:N0} PR locks on {resources:N0} resources (set up in {result.setup_s} s)")).ConfigureAwait(false);
            await stdout.WriteLineAsync(string.Create(c, $"  node 3 fails: survivors stopped, rebuilt {rebuilt:N0} locks on the resources they took over, resumed in {result.recovery_ms} ms")).ConfigureAwait(false);
            await stdout.WriteLineAsync(string.Create(c, $"  (view to locking enabled; failure detection not included: etcd TTL, or the administrator with static membership)")).ConfigureAwait(false);
            await stdout.WriteLineAsync(string.Create(c, $"  afterwards: an EX NOQUEUE on one of node 3's resources is refused (the other survivor's PR was rebuilt): {result.survivors_enforce_old_locks}")).ConfigureAwait(false);
        }

        return result.survivors_enforce_old_locks ? DlmCli.Ok : DlmCli.Failed;
    }

    private static async Task LockAllAsync(Lockspace space, IEnumerable<string> names)
    {
        var queue = new System.Collections.Concurrent.ConcurrentQueue<string>(names);
        await Task.WhenAll(Enumerable.Range(0, 32).Select(_ => Task.Run(async () =>
        {
            while (queue.TryDequeue(out var name))
            {
                await space.LockAsync(name, LockMode.ProtectedRead).ConfigureAwait(false);
            }
        }))).ConfigureAwait(false);
    }
}
