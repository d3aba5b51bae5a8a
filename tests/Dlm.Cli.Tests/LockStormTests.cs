using Dlm.Cli.Demo;
using Dlm.Protocol;

namespace Dlm.Cli.Tests;

/// <summary>
/// A lock storm over many resources on three TCP nodes, every mode at random, checked by the demo's
/// safety checker: no two incompatible locks held at once, every request answered.
/// </summary>
public sealed class LockStormTests
{
    [Fact]
    public async Task Storm_RandomModesOnManyResources_NoIncompatibleOverlap()
    {
        var cluster = new ClusterConfiguration
        {
            Cluster = "storm",
            Nodes = Enumerable.Range(1, 3).Select(i => new ClusterNode { Id = i, Addresses = [$"127.208.0.{i}"] }).ToList(),
        };
        var nodes = new DlmNode[3];
        for (var i = 0; i < 3; i++)
        {
            nodes[i] = await DlmNode.StartAsync(new DlmNodeOptions { Cluster = cluster, NodeId = i + 1, LeaveTimeout = TimeSpan.FromSeconds(2) });
        }

        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("storm")));

        var checker = new SafetyChecker();
        var names = Enumerable.Range(0, 200).Select(i => $"storm/{i}").ToArray();
        long operations = 0;
        await Task.WhenAll(spaces.SelectMany((space, n) => Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var random = new Random((n * 10) + w);
            for (var i = 0; i < 150; i++)
            {
                var name = names[random.Next(names.Length)];
                var mode = (LockMode)random.Next(0, 6);
                var held = await space.LockAsync(name, mode);
                var token = checker.Granted(name, n + 1, mode);
                if (random.Next(4) == 0)
                {
                    // A down-conversion: always granted at once (spec §4.9).
                    checker.Released(name, token);
                    await held.ConvertAsync(LockMode.Null);
                    token = checker.Granted(name, n + 1, LockMode.Null);
                }

                checker.Released(name, token);
                await held.DisposeAsync();
                Interlocked.Increment(ref operations);
            }
        })))).WaitAsync(TimeSpan.FromSeconds(90));

        Assert.Equal(3 * 4 * 150, operations);
        Assert.Empty(checker.Violations);
        Assert.True(checker.Events >= 2 * operations);
        await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask()));
    }
}
