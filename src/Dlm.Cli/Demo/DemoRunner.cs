using System.Buffers.Binary;
using System.Diagnostics;
using Dlm.Cli.Bench;
using Dlm.Protocol;

namespace Dlm.Cli.Demo;

/// <summary>
/// <c>dlm demo</c>: N nodes on 127.0.0.1..N join lockspace "demo" (32-byte LVB). On every node,
/// writers take EX with VALBLK on one of K resources and increment a 64-bit counter in the LVB
/// (unlocking, or down-converting to NL first); a reader takes PR and checks the counters never go
/// back; a cacher holds PR until a blocking callback asks for it. At the end the counters must sum
/// to the increments made and the safety checker must have seen no incompatible overlap.
/// </summary>
internal sealed partial class DemoRunner(DemoOptions options, bool recordIntervals = false, DemoJournal? journal = null)
{
    private readonly SafetyChecker _checker = new(recordIntervals, journal);
    private readonly Percentiles _local = new(1_000_000);
    private readonly Percentiles _remote = new(1_000_000);
    private readonly Lock _latencyLock = new();
    private long _increments, _reads, _cachedGrants, _basts, _localLocks, _remoteLocks;
    private readonly List<string> _regressions = [];

    public async Task<DemoResult> RunAsync(CancellationToken ct)
    {
        var cluster = options.Cluster();
        var nodes = new DlmNode[options.Nodes];
        for (var i = 0; i < nodes.Length; i++)
        {
            nodes[i] = await DlmNode.StartAsync(new DlmNodeOptions { Cluster = cluster, NodeId = i + 1, LoggerFactory = CliLogging.Factory }, ct).ConfigureAwait(false);
        }

        // All at once: a join completes when every member has joined and the first recovery is done (spec §5.3).
        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("demo", new LockspaceOptions { LvbLength = 32 }, ct))).ConfigureAwait(false);

        var names = Names(options);
        // An NL lock per node and resource keeps each resource and its LVB alive (spec §4.14).
        var keepers = new List<LockHandle>();
        foreach (var space in spaces)
        {
            foreach (var name in names)
            {
                keepers.Add(await space.LockAsync(name, LockMode.Null, cancellationToken: ct).ConfigureAwait(false));
            }
        }

        var stopwatch = Stopwatch.StartNew();
        await WorkAsync(spaces.Select((space, i) => (space, i + 1)), names, ct).ConfigureAwait(false);
        var elapsed = stopwatch.Elapsed.TotalSeconds;

        long sum = 0;
        foreach (var name in names)
        {
            var reader = await spaces[0].LockAsync(name, LockMode.ProtectedRead, new LockRequest { ValueBlock = true }, ct).ConfigureAwait(false);
            sum += BinaryPrimitives.ReadInt64LittleEndian(reader.ValueBlock.Span);
            await reader.DisposeAsync().ConfigureAwait(false);
        }

        var stats = nodes.SelectMany(n => n.Messaging.GetStatistics()).ToList();
        foreach (var keeper in keepers)
        {
            await keeper.DisposeAsync().ConfigureAwait(false);
        }

        var leave = Stopwatch.StartNew();
        await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask())).ConfigureAwait(false);
        var violations = _checker.Violations.Concat(_regressions).ToList();
        if (sum != Interlocked.Read(ref _increments))
        {
            violations.Add($"the counters sum to {sum} but {_increments} increments were made");
        }

        return new DemoResult
        {
            Nodes = options.Nodes,
            Resources = options.Resources,
            Seconds = elapsed,
            Increments = _increments,
            CounterSum = sum,
            Reads = _reads,
            CachedGrants = _cachedGrants,
            BlockingHonoured = _basts,
            OperationsPerSecond = (_increments + _reads + _cachedGrants) / elapsed,
            LocalP50 = _local.At(0.5),
            LocalP99 = _local.At(0.99),
            RemoteP50 = _remote.At(0.5),
            RemoteP99 = _remote.At(0.99),
            LocalLocks = _localLocks,
            RemoteLocks = _remoteLocks,
            Messages = stats.Sum(s => s.Delivered),
            Retransmitted = stats.Sum(s => s.Retransmitted),
            CheckerEvents = _checker.Events,
            Violations = violations,
            LeaveMilliseconds = leave.Elapsed.TotalMilliseconds,
            Passed = violations.Count == 0 && _increments > 0,
        };
    }

    internal static string[] Names(DemoOptions options) => Enumerable.Range(0, options.Resources).Select(r => $"counter/{r}").ToArray();

    /// <summary>Resources without LVB (with --kill-one: mastered by the node that dies).</summary>
    internal static string[] PlainNames(DemoOptions options) => Enumerable.Range(0, options.Plain).Select(r => $"plain/{r}").ToArray();

    // Writers, a reader and a cacher per node, for the configured time.
    private async Task WorkAsync(IEnumerable<(Lockspace Space, int Node)> spaces, string[] names, CancellationToken ct)
    {
        var workers = new List<Func<CancellationToken, Task>>();
        foreach (var (space, node) in spaces)
        {
            for (var w = 0; w < options.Writers; w++)
            {
                var seed = options.Seed + (node * 100) + w;
                workers.Add(stop => WriteAsync(space, node, names, seed, stop));
            }

            workers.Add(stop => ReadAsync(space, node, names, stop));
            if (options.Plain > 0)
            {
                var seed = options.Seed + (node * 100) + 99;
                workers.Add(stop => PlainAsync(space, node, PlainNames(options), seed, stop));
            }
            workers.Add(stop => CacheAsync(space, node, names[(node - 1) % names.Length], stop));
        }

        using var window = new WorkWindow(workers.Count, TimeSpan.FromSeconds(options.Seconds));
        // Every worker starts, even when ct is cancelled first: the window opens only once all have.
        using var cancelled = ct.Register(window.Close);
        await Task.WhenAll(workers.Select(worker => Task.Run(() =>
        {
            window.Started();
            return worker(window.Closed);
        }, CancellationToken.None))).ConfigureAwait(false);
    }

    // EX with VALBLK, +1 in the LVB; every fourth time down-convert to NL (which writes the LVB) before unlocking.
    private async Task WriteAsync(Lockspace space, int node, string[] names, int seed, CancellationToken stop)
    {
        var random = new Random(seed);
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var name = names[random.Next(names.Length)];
            var started = Stopwatch.GetTimestamp();
            var held = await space.LockAsync(name, LockMode.Exclusive, new LockRequest { ValueBlock = true }, CancellationToken.None).ConfigureAwait(false);
            Record(held, started);
            var token = _checker.Granted(name, node, LockMode.Exclusive);
            var value = BinaryPrimitives.ReadInt64LittleEndian(held.ValueBlock.Span);
            BinaryPrimitives.WriteInt64LittleEndian(held.ValueBlock.Span, value + 1);
            Interlocked.Increment(ref _increments);
            journal?.Incremented();
            _checker.Released(name, token);
            if (i % 4 == 3)
            {
                await held.ConvertAsync(LockMode.Null, cancellationToken: CancellationToken.None).ConfigureAwait(false);
            }

            await held.DisposeAsync().ConfigureAwait(false);
        }
    }

    // EX or PR at random on resources without LVB.
    private async Task PlainAsync(Lockspace space, int node, string[] names, int seed, CancellationToken stop)
    {
        var random = new Random(seed);
        while (!stop.IsCancellationRequested)
        {
            var name = names[random.Next(names.Length)];
            var mode = random.Next(2) == 0 ? LockMode.Exclusive : LockMode.ProtectedRead;
            var started = Stopwatch.GetTimestamp();
            var held = await space.LockAsync(name, mode, cancellationToken: CancellationToken.None).ConfigureAwait(false);
            Record(held, started);
            var token = _checker.Granted(name, node, mode);
            await Task.Delay(TimeSpan.FromMilliseconds(random.Next(3)), TimeProvider.System, CancellationToken.None).ConfigureAwait(false); // held a moment: others queue behind it
            _checker.Released(name, token);
            await held.DisposeAsync().ConfigureAwait(false);
        }
    }

    // PR with VALBLK: a counter never goes back.
    private async Task ReadAsync(Lockspace space, int node, string[] names, CancellationToken stop)
    {
        var seen = new long[names.Length];
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var r = i % names.Length;
            var started = Stopwatch.GetTimestamp();
            var held = await space.LockAsync(names[r], LockMode.ProtectedRead, new LockRequest { ValueBlock = true }, CancellationToken.None).ConfigureAwait(false);
            Record(held, started);
            var token = _checker.Granted(names[r], node, LockMode.ProtectedRead);
            var value = BinaryPrimitives.ReadInt64LittleEndian(held.ValueBlock.Span);
            if (value < seen[r])
            {
                lock (_regressions)
                {
                    _regressions.Add($"node {node} read {value} from '{names[r]}' after reading {seen[r]}");
                }
            }

            seen[r] = value;
            Interlocked.Increment(ref _reads);
            _checker.Released(names[r], token);
            await held.DisposeAsync().ConfigureAwait(false);
        }
    }

    // A cached PR lock, given up only when a blocking callback asks for it.
    private async Task CacheAsync(Lockspace space, int node, string name, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var asked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var held = await space.LockAsync(name, LockMode.ProtectedRead, new LockRequest { Blocking = (_, _) => asked.TrySetResult() }, CancellationToken.None).ConfigureAwait(false);
            var token = _checker.Granted(name, node, LockMode.ProtectedRead);
            Interlocked.Increment(ref _cachedGrants);
            try
            {
                await asked.Task.WaitAsync(stop).ConfigureAwait(false);
                Interlocked.Increment(ref _basts);
            }
            catch (OperationCanceledException)
            {
            }

            _checker.Released(name, token);
            await held.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void Record(LockHandle held, long started)
    {
        var micros = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        lock (_latencyLock)
        {
            (held.MasteredLocally ? _local : _remote).Add(micros);
        }

        Interlocked.Increment(ref held.MasteredLocally ? ref _localLocks : ref _remoteLocks);
    }
}
