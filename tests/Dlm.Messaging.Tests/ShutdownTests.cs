using Dlm.Messaging;

namespace Dlm.Messaging.Tests;

public sealed class ShutdownTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    // FIN and shutdown waits far longer than Timeout: a shutdown that returns within Timeout was ended by the
    // handshake itself, not by a timeout, however loaded the test host is.
    private static MessagingOptions NoTimeoutWaited(MessagingOptions o) => o with
    {
        Transport = o.Transport with { ShutdownTimeout = TimeSpan.FromMinutes(10) }, FinTimeout = TimeSpan.FromMinutes(10),
    };

    [Fact]
    public async Task Shutdown_BothSidesAtOnce_FinHandshakeCompletesQuickly()
    {
        await using var cluster = TestCluster.Start(2, NoTimeoutWaited);
        cluster.JoinAll();
        cluster.Ping();
        for (uint i = 0; i < 100; i++)
        {
            cluster[1].SendMessage(2, TestCluster.Lockspace, TestCluster.Counted(i), "r"u8);
            cluster[2].SendMessage(1, TestCluster.Lockspace, TestCluster.Counted(i), "r"u8);
        }

        await cluster.Recorders[1].WaitForAsync(1, 100, Timeout);
        await cluster.Recorders[0].WaitForAsync(2, 100, Timeout);

        await Task.WhenAll(cluster[1].ShutdownAsync(), cluster[2].ShutdownAsync()).WaitAsync(Timeout);
        Assert.Equal(PeerState.Closed, cluster[1].GetStatistics(2).State);
        Assert.Equal(0u, cluster[1].GetStatistics(2).SeqSend);
    }

    [Fact]
    public async Task Shutdown_PeerLeftEarlier_PassiveSideEndsCloseWaitWithItsFin()
    {
        await using var cluster = TestCluster.Start(2, NoTimeoutWaited);
        cluster.JoinAll();
        cluster.Ping();
        cluster[1].SendMessage(2, TestCluster.Lockspace, TestCluster.Counted(0), "r"u8);
        await cluster.Recorders[1].WaitForAsync(1, 1, Timeout);
        await cluster.Recorders[0].WaitForRcomAsync(2, Dlm.Protocol.RcomType.Status, Timeout);

        // Node 2 leaves first; node 1 still counts it as a member, so it waits in CLOSE_WAIT.
        var first = cluster[2].ShutdownAsync();
        Assert.True(await cluster[1].WaitForStateAsync(2, PeerState.CloseWait, Timeout), $"node 1 never reached CLOSE_WAIT: {cluster[1].GetStatistics(2).State}");

        await Task.WhenAll(first, cluster[1].ShutdownAsync()).WaitAsync(Timeout);
        Assert.Equal(PeerState.Closed, cluster[1].GetStatistics(2).State);
        Assert.Equal(PeerState.Closed, cluster[2].GetStatistics(1).State);
    }
}
