using System.Buffers.Binary;
using System.Text.Json;
using Dlm.Protocol;

namespace Dlm.Cli.Demo;

internal sealed partial class DemoRunner
{
    /// <summary>What one child process reports after its work.</summary>
    internal sealed record ChildReport(long Increments, long Reads, long CachedGrants, long Basts, double LocalP50, double LocalP99,
        double RemoteP50, double RemoteP99, long LocalLocks, long RemoteLocks, long Messages, long Retransmitted, long CheckerEvents,
        List<string> Regressions, List<SafetyChecker.Interval> Intervals, List<RecoveryReport> Recoveries);

    /// <summary>One completed recovery of a child's lockspace: generation, duration, completion (machine monotonic clock).</summary>
    internal sealed record RecoveryReport(long Generation, double Milliseconds, long CompletedAt);

    /// <summary>
    /// <c>dlm demo-node --id N</c>: one node of <c>dlm demo --processes</c>, driven over stdin/stdout:
    /// joined → keep → ready → go → (report JSON) → sum → (sums JSON) → stop → stopped.
    /// </summary>
    public async Task<int> RunChildAsync(int id, TextReader input, TextWriter output)
    {
        var cluster = options.Config is { } path ? ClusterConfiguration.Load(path) : options.Cluster();
        var membership = options.Config is { } config ? await Node.NodeCommand.MembershipAsync(cluster, config, new Node.NodeOptions { Id = id }).ConfigureAwait(false) : null;
        var node = await DlmNode.StartAsync(new DlmNodeOptions { Cluster = cluster, NodeId = id, LoggerFactory = CliLogging.Factory, Membership = membership })
            .ConfigureAwait(false);
        var space = await node.JoinLockspaceAsync("demo", new LockspaceOptions { LvbLength = 32 }).ConfigureAwait(false);
        var names = Names(options);
        await SayAsync(output, "joined").ConfigureAwait(false);
        var keepers = new List<LockHandle>();
        string? command;
        while ((command = await input.ReadLineAsync().ConfigureAwait(false)) is "keep" or "keep-plain")
        {
            // An NL lock per resource keeps it and its LVB alive; the first node to take one masters it.
            foreach (var name in command == "keep" ? names : PlainNames(options))
            {
                keepers.Add(await space.LockAsync(name, LockMode.Null).ConfigureAwait(false));
            }

            await SayAsync(output, "ready").ConfigureAwait(false);
        }

        if (command != "go")
        {
            throw new InvalidOperationException($"demo node expected 'go' from its parent, got '{command}'");
        }

        await WorkAsync([(space, id)], names, CancellationToken.None).ConfigureAwait(false);
        var stats = node.Messaging.GetStatistics();
        var report = new ChildReport(_increments, _reads, _cachedGrants, _basts, _local.At(0.5), _local.At(0.99), _remote.At(0.5), _remote.At(0.99),
            _localLocks, _remoteLocks, stats.Sum(s => s.Delivered), stats.Sum(s => s.Retransmitted), _checker.Events, [.. _regressions],
            [.. _checker.Intervals], [.. space.RecoveryHistory.Select(r => new RecoveryReport(r.Generation, r.Time.TotalMilliseconds, r.CompletedAt))]);
        await SayAsync(output, JsonSerializer.Serialize(report, ReportJson.Options)).ConfigureAwait(false);

        command = await input.ReadLineAsync().ConfigureAwait(false);
        if (command == "sum")
        {
            var sums = new List<long>();
            foreach (var name in names)
            {
                var reader = await space.LockAsync(name, LockMode.ProtectedRead, new LockRequest { ValueBlock = true }).ConfigureAwait(false);
                sums.Add(BinaryPrimitives.ReadInt64LittleEndian(reader.ValueBlock.Span));
                await reader.DisposeAsync().ConfigureAwait(false);
            }

            await SayAsync(output, JsonSerializer.Serialize(sums)).ConfigureAwait(false);
            command = await input.ReadLineAsync().ConfigureAwait(false);
        }

        if (command == "stop")
        {
            foreach (var keeper in keepers)
            {
                await keeper.DisposeAsync().ConfigureAwait(false);
            }

            await node.DisposeAsync().ConfigureAwait(false);
            if (membership is not null)
            {
                await membership.DisposeAsync().ConfigureAwait(false);
            }

            await SayAsync(output, "stopped").ConfigureAwait(false);
        }

        return DlmCli.Ok;
    }

    private static async Task SayAsync(TextWriter output, string line)
    {
        await output.WriteLineAsync(line).ConfigureAwait(false);
        await output.FlushAsync().ConfigureAwait(false);
    }

    private static async Task ExpectAsync(TextReader input, string expected)
    {
        var line = await input.ReadLineAsync().ConfigureAwait(false);
        if (line != expected)
        {
            throw new InvalidOperationException($"demo node expected '{expected}' from its parent, got '{line}'");
        }
    }
}
