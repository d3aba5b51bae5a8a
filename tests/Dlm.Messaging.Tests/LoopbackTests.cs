using Dlm.Protocol;

namespace Dlm.Messaging.Tests;

public sealed class LoopbackTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Send_TwoNodes_DeliveredInOrderAfterVersionDetection()
    {
        await using var cluster = TestCluster.Start(2);
        cluster.JoinAll();
        // Sent before any version is known: held, then released by the STATUS ping (spec §2.3).
        for (uint i = 0; i < 1000; i++)
        {
            cluster[1].SendMessage(2, TestCluster.Lockspace, TestCluster.Counted(i), "res"u8);
        }

        Assert.Equal(1000, cluster[1].GetStatistics(2).WaitingForVersion);
        cluster.Ping();
        await cluster.Recorders[1].WaitForAsync(1, 1000, Timeout);
        Assert.Empty(cluster.Recorders[1].Violations);
        var stats = cluster[1].GetStatistics(2);
        Assert.Equal(ProtocolVersion.V32, stats.Version);
        Assert.Equal(1000u, stats.SeqSend);
    }
}
