using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Dlm.Protocol;

namespace Dlm.Cli.Bench;

/// <summary>
/// <c>dlm bench locks</c>: (1) EX lock + unlock throughput on many resources with 1..N nodes in one
/// process (how it scales), (2) the latency of a lock + unlock on a resource mastered on another
/// node against two raw-TCP round trips of the same message size, measured in the same run.
/// </summary>
internal static class LockBench
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout)
    {
        var nodes = 3;
        var resources = 1000;
        var seconds = 2.0;
        var json = false;
        var workers = 8;
        var baseAddress = IPAddress.Parse("127.0.0.1");
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--nodes": nodes = int.TryParse(Value(), CultureInfo.InvariantCulture, out var n) && n is >= 2 and <= 16 ? n : throw new UsageException("--nodes takes 2..16"); break;
                case "--resources": resources = int.TryParse(Value(), CultureInfo.InvariantCulture, out var r) && r is >= 1 and <= 1_000_000 ? r : throw new UsageException("--resources takes 1..1000000"); break;
                case "--seconds": seconds = double.TryParse(Value(), CultureInfo.InvariantCulture, out var s) && s is > 0 and <= 600 ? s : throw new UsageException("--seconds takes a number in (0, 600]"); break;
                case "--json": json = true; break;
                case "--workers": workers = int.TryParse(Value(), CultureInfo.InvariantCulture, out var w) && w is >= 1 and <= 256 ? w : throw new UsageException("--workers takes 1..256"); break;
                case "--base": baseAddress = IPAddress.TryParse(Value(), out var a) ? a : throw new UsageException("--base takes an IPv4 address"); break;
                default: throw new UsageException($"unknown option for 'dlm bench locks': {args[i]}");
            }
        }

        var names = Enumerable.Range(0, resources).Select(i => $"resource/{i:D7}").ToArray();
        var scaling = new List<(int Nodes, double OpsPerSecond, double LocalShare)>();
        for (var n = 1; n <= nodes; n++)
        {
            scaling.Add(await ThroughputAsync(Cluster(baseAddress, n), names, seconds, workers).ConfigureAwait(false));
        }

        var remote = await RemoteLatencyAsync(Cluster(baseAddress, 2)).ConfigureAwait(false);
        var result = new
        {
            resources,
            workers,
            scaling = scaling.Select(s => new { nodes = s.Nodes, ops_per_s = s.OpsPerSecond, locally_mastered_share = s.LocalShare }),
            remote_lock_unlock_p50_us = remote.P50,
            remote_lock_unlock_p99_us = remote.P99,
            baseline_two_round_trips_p50_us = remote.BaselineP50,
            remote_ratio = remote.Ratio,
        };
        if (json)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(result, ReportJson.Options)).ConfigureAwait(false);
            return DlmCli.Ok;
        }

        var c = CultureInfo.InvariantCulture;
        await stdout.WriteLineAsync(string.Create(c, $"dlm bench locks: EX lock + unlock on {resources:N0} resources, {workers} workers per node")).ConfigureAwait(false);
        foreach (var (n, ops, share) in scaling)
        {
            await stdout.WriteLineAsync(string.Create(c, $"  {n} node(s)   : {ops:N0} lock+unlock/s, {share:P0} mastered where used")).ConfigureAwait(false);
        }

        await stdout.WriteLineAsync(string.Create(c, $"  remote      : lock + unlock p50 {remote.P50:F1} us, p99 {remote.P99:F1} us; two raw-TCP round trips p50 {remote.BaselineP50:F1} us; ratio {remote.Ratio:F2} (median of the {RemoteRounds} alternating rounds' own ratios)")).ConfigureAwait(false);
        return DlmCli.Ok;
    }

    private const int Port = WireLimits.DefaultPort;

    internal static ClusterConfiguration Cluster(IPAddress baseAddress, int n)
    {
        var b = baseAddress.GetAddressBytes();
        return new ClusterConfiguration
        {
            Cluster = "bench",
            Nodes = Enumerable.Range(0, n).Select(i => new ClusterNode { Id = i + 1, Addresses = [$"{b[0]}.{b[1]}.{b[2]}.{b[3] + i}"] }).ToList(),
        };
    }

    private static async Task<(DlmNode[] Nodes, Lockspace[] Spaces)> StartAsync(ClusterConfiguration cluster)
    {
        var nodes = new DlmNode[cluster.Nodes.Count];
        for (var i = 0; i < nodes.Length; i++)
        {
            nodes[i] = await DlmNode.StartAsync(new DlmNodeOptions { Cluster = cluster, NodeId = i + 1 }).ConfigureAwait(false);
        }

        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("bench"))).ConfigureAwait(false);

        return (nodes, spaces);
    }

    // Every node's workers lock and unlock EX on random resources; each node first claims its share,
    // so about 1/n of the resources a node uses are mastered there.
    private static async Task<(int, double, double)> ThroughputAsync(ClusterConfiguration cluster, string[] names, double seconds, int workers)
    {
        var (nodes, spaces) = await StartAsync(cluster).ConfigureAwait(false);
        long operations = 0, local = 0;
        for (var i = 0; i < names.Length; i++)
        {
            var first = await spaces[i % spaces.Length].LockAsync(names[i], LockMode.Null).ConfigureAwait(false);
            await first.DisposeAsync().ConfigureAwait(false);
        }

        using var window = new WorkWindow(spaces.Length * workers, TimeSpan.FromSeconds(seconds));
        await Task.WhenAll(spaces.SelectMany((space, n) => Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            var random = new Random((n * 10) + w);
            window.Started();
            while (!window.Closed.IsCancellationRequested)
            {
                var held = await space.LockAsync(names[random.Next(names.Length)], LockMode.Exclusive, cancellationToken: CancellationToken.None).ConfigureAwait(false);
                var counted = window.HasOpened;
                if (counted && held.MasteredLocally)
                {
                    Interlocked.Increment(ref local);
                }

                await held.DisposeAsync().ConfigureAwait(false);
                if (counted)
                {
                    Interlocked.Increment(ref operations);
                }
            }
        })))).ConfigureAwait(false);
        var rate = operations / window.Elapsed.TotalSeconds;
        await Task.WhenAll(nodes.Select(nd => nd.DisposeAsync().AsTask())).ConfigureAwait(false);
        return (spaces.Length, rate, operations == 0 ? 0 : (double)local / operations);
    }

    private const int RemoteRounds = 5, RemotePerRound = 600;

    private sealed record RemoteLatency(double P50, double P99, double BaselineP50, double Ratio);

    // Node 1 masters the resources; node 2 locks and unlocks them one at a time. Rounds alternate with
    // raw-TCP ping-pong rounds on the same two addresses, so both see the same machine (its loopback
    // latency drifts by 2x over seconds here); the ratio is the median of the rounds' ratios.
    private static async Task<RemoteLatency> RemoteLatencyAsync(ClusterConfiguration cluster)
    {
        var addresses = cluster.Nodes.Select(nd => IPAddress.Parse(nd.Addresses[0])).ToArray();
        var (nodes, spaces) = await StartAsync(cluster).ConfigureAwait(false);
        var names = Enumerable.Range(0, 64).Select(i => $"remote/{i}").ToArray();
        foreach (var name in names)
        {
            var claim = await spaces[0].LockAsync(name, LockMode.Null).ConfigureAwait(false);
            await claim.DisposeAsync().ConfigureAwait(false);
        }

        await LockUnlockAsync(spaces[1], names, 200, null).ConfigureAwait(false); // warm-up
        await RawTcpBaseline.RoundTripAsync(addresses, Port + 1, 200, CancellationToken.None).ConfigureAwait(false);
        var all = new Percentiles(RemoteRounds * RemotePerRound);
        var baseline = new List<double>();
        var ratios = new List<double>();
        for (var round = 0; round < RemoteRounds; round++)
        {
            var samples = new Percentiles(RemotePerRound);
            await LockUnlockAsync(spaces[1], names, RemotePerRound, [samples, all]).ConfigureAwait(false);
            var raw = await RawTcpBaseline.RoundTripAsync(addresses, Port + 1, RemotePerRound, CancellationToken.None).ConfigureAwait(false);
            baseline.Add(2 * raw.At(0.5));
            ratios.Add(samples.At(0.5) / baseline[^1]);
        }

        await Task.WhenAll(nodes.Select(nd => nd.DisposeAsync().AsTask())).ConfigureAwait(false);
        return new RemoteLatency(all.At(0.5), all.At(0.99), Percentiles.Median(baseline), Percentiles.Median(ratios));
    }

    private static async Task LockUnlockAsync(Lockspace space, string[] names, int iterations, Percentiles[]? into)
    {
        for (var i = 0; i < iterations; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var held = await space.LockAsync(names[i % names.Length], LockMode.Exclusive).ConfigureAwait(false);
            await held.DisposeAsync().ConfigureAwait(false);
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            foreach (var p in into ?? [])
            {
                p.Add(elapsed);
            }
        }
    }
}
