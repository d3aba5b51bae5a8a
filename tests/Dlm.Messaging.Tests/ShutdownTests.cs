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

    // Close by configuration (spec §2.9 last row, §3.6): the node failed, so its midcomms state, its
    // unacknowledged messages and its sockets go at once, nobody waits for its FIN, and the other
    // peers do not notice.
    [Fact]
    public async Task CloseNode_DeadPeer_StateAndQueueDroppedOthersUnaffectedShutdownDoesNotWaitForIt()
    {
        await using var cluster = TestCluster.Start(3, NoTimeoutWaited);
        cluster.JoinAll();
        cluster.Ping();
        await cluster.Recorders[0].WaitForRcomAsync(2, Dlm.Protocol.RcomType.Status, Timeout); // node 2's version is known
        await cluster[2].DisposeAsync().AsTask().WaitAsync(Timeout); // node 2 dies: no FIN, nothing acknowledged any more
        for (uint i = 0; i < 50; i++)
        {
            cluster[1].SendMessage(2, TestCluster.Lockspace, TestCluster.Counted(i), "r"u8);
        }

        var before = cluster[1].GetStatistics(2);
        Assert.Equal(50u, before.SeqSend);
        Assert.True(before.QueuedMessages >= 50, $"{before.QueuedMessages} queued");

        await cluster[1].CloseNodeAsync(2).WaitAsync(Timeout);

        var after = cluster[1].GetStatistics(2);
        Assert.Equal((PeerState.Closed, 0u, 0u, 0, 0, 0), (after.State, after.SeqSend, after.Version, after.Users, after.QueuedMessages, after.WaitingForVersion));
        Assert.False(after.Transport.Connected);
        cluster[1].SendMessage(3, TestCluster.Lockspace, TestCluster.Counted(0), "r"u8);
        await cluster.Recorders[2].WaitForAsync(1, 1, Timeout);
        Assert.Empty(cluster.Recorders[2].Violations);

        // Node 2 is not waited for (FIN and shutdown timeouts are 10 minutes here) once every survivor has
        // closed it, as membership does; nodes 1 and 3 leave each other with the handshake.
        await cluster[3].CloseNodeAsync(2).WaitAsync(Timeout);
        await Task.WhenAll(cluster[1].ShutdownAsync(), cluster[3].ShutdownAsync()).WaitAsync(Timeout);
        Assert.Equal(PeerState.Closed, cluster[1].GetStatistics(3).State);
    }
}
