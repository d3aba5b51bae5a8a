namespace Dlm.Messaging.Tests;

/// <summary>Exactly-once, in-order delivery while TCP connections are reset at random (spec §2.7, §3.3).</summary>
public sealed class ChaosTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Send_ThreeNodesWithRandomResets_EveryMessageOnceInOrder(int seed)
    {
        const uint perDirection = 16_700; // 3 nodes × 2 peers × 16,700 ≈ 100,000 messages
        await using var cluster = TestCluster.Start(3);
        cluster.JoinAll();
        cluster.Ping();
        // STATUS is stateless (never retransmitted, spec §2.3): a reset could lose it, leaving the version unknown
        // and every message held for it. Let the versions be detected before resets start.
        foreach (var receiver in cluster.Recorders)
        {
            foreach (var sender in cluster.Nodes.Where(n => n.LocalNodeId != receiver.NodeId))
            {
                await receiver.WaitForRcomAsync(sender.LocalNodeId, Dlm.Protocol.RcomType.Status, Timeout);
            }
        }

        using var stop = new CancellationTokenSource();
        var resets = ResetAtRandomAsync(cluster, seed, stop.Token);

        var senders = cluster.Nodes.Select(node => Task.Run(async () =>
        {
            var peers = cluster.Nodes.Where(n => n != node).Select(n => n.LocalNodeId).ToArray();
            for (uint i = 0; i < perDirection; i++)
            {
                foreach (var peer in peers)
                {
                    node.SendMessage(peer, TestCluster.Lockspace, TestCluster.Counted(i), "chaos"u8);
                }

                if (i % 512 == 0)
                {
                    foreach (var peer in peers)
                    {
                        await node.WaitForSendCapacityAsync(peer, 4096);
                    }
                }
            }
        })).ToArray();

        await Task.WhenAll(senders).WaitAsync(Timeout);
        try
        {
            foreach (var receiver in cluster.Recorders)
            {
                foreach (var sender in cluster.Nodes.Where(n => n.LocalNodeId != receiver.NodeId))
                {
                    await receiver.WaitForAsync(sender.LocalNodeId, perDirection, Timeout);
                }
            }
        }
        catch (TimeoutException e)
        {
            // Every peer's state and counters, to tell a stuck sender from a receiver that drops.
            var peers = cluster.Nodes.SelectMany(n => n.GetStatistics().Select(s => $"node {n.LocalNodeId}: {s}"));
            throw new TimeoutException($"{e.Message}\n{string.Join("\n", peers)}", e);
        }

        await stop.CancelAsync();
        var resetCount = await resets;
        Assert.All(cluster.Recorders, r => Assert.Empty(r.Violations));
        Assert.True(resetCount > 0, "no connection was reset: the test proved nothing");
        var stats = cluster.Nodes.SelectMany(n => n.GetStatistics()).ToList();
        Assert.True(stats.Sum(s => s.Retransmitted) > 0, "resets happened but nothing was retransmitted");
        foreach (var receiver in cluster.Recorders)
        {
            foreach (var sender in cluster.Nodes.Where(n => n.LocalNodeId != receiver.NodeId))
            {
                Assert.Equal(perDirection, receiver.ReceivedFrom(sender.LocalNodeId));
            }
        }
    }

    // Fault injection on a fixed cadence (not a wait for a condition): abort a random live connection.
    private static async Task<int> ResetAtRandomAsync(TestCluster cluster, int seed, CancellationToken ct)
    {
        var random = new Random(seed);
        var resets = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(15));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var node = cluster.Nodes[random.Next(cluster.Nodes.Length)];
                var live = node.Transport.Peers.Where(p => p.IsConnected).ToArray();
                if (live.Length > 0)
                {
                    live[random.Next(live.Length)].Abort();
                    resets++;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return resets;
    }
}
