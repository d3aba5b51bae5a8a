using System.Buffers.Binary;
using System.Text.Json;
using Dlm.Protocol;

namespace Dlm.Cli.Demo;

internal sealed partial class DemoRunner
{
    /// <summary>What one child process reports after its work.</summary>
    internal sealed record ChildReport(long Increments, long Reads, long CachedGrants, long Basts, double LocalP50, double LocalP99,
        double RemoteP50, double RemoteP99, long LocalLocks, long RemoteLocks, long Messages, long Retransmitted, long CheckerEvents,
        List<string> Regressions, List<SafetyChecker.Interval> Intervals);

    /// <summary>
    /// <c>dlm demo-node --id N</c>: one node of <c>dlm demo --processes</c>, driven over stdin/stdout:
    /// joined → keep → ready → go → (report JSON) → sum → (sums JSON) → stop → stopped.
    /// </summary>
    public async Task<int> RunChildAsync(int id, TextReader input, TextWriter output)
    {
        var node = await DlmNode.StartAsync(new DlmNodeOptions { Cluster = options.Cluster(), NodeId = id, LoggerFactory = CliLogging.Factory }).ConfigureAwait(false);
        var space = await node.JoinLockspaceAsync("demo", new LockspaceOptions { LvbLength = 32 }).ConfigureAwait(false);
        var names = Names(options);
        await SayAsync(output, "joined").ConfigureAwait(false);
        await ExpectAsync(input, "keep").ConfigureAwait(false);
        var keepers = new List<LockHandle>();
        foreach (var name in names)
        {
            keepers.Add(await space.LockAsync(name, LockMode.Null).ConfigureAwait(false));
        }

        await SayAsync(output, "ready").ConfigureAwait(false);
        await ExpectAsync(input, "go").ConfigureAwait(false);
        await WorkAsync([(space, id)], names, CancellationToken.None).ConfigureAwait(false);
        var stats = node.Messaging.GetStatistics();
        var report = new ChildReport(_increments, _reads, _cachedGrants, _basts, _local.At(0.5), _local.At(0.99), _remote.At(0.5), _remote.At(0.99),
            _localLocks, _remoteLocks, stats.Sum(s => s.Delivered), stats.Sum(s => s.Retransmitted), _checker.Events, [.. _regressions],
            [.. _checker.Intervals]);
        await SayAsync(output, JsonSerializer.Serialize(report, DemoJson.Options)).ConfigureAwait(false);

        var command = await input.ReadLineAsync().ConfigureAwait(false);
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
