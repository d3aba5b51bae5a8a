using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm.Messaging.Tests;

/// <summary>The node's API refuses misuse with a clear error and changes nothing. No sockets: the node is never started.</summary>
public sealed class NodeApiTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(32)]
    [InlineData(256)]
    public async Task WaitForSendCapacityAsync_BoundAnAckMayNeverReach_Refused(int maxQueued)
    {
        // A peer that sends nothing back acknowledges only after more than 256 deliveries (spec §2.5).
        await using var node = Node();
        var e = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => node.WaitForSendCapacityAsync(2, maxQueued).AsTask());
        Assert.Equal("maxQueued", e.ParamName);
    }

    [Fact]
    public async Task WaitForSendCapacityAsync_TheSmallestBound_WaitsUntilThePeersAckReleasesTheQueue()
    {
        await using var node = Node();
        ITransportHandler transportSide = node;
        transportSide.OnMessages(2, Status()); // a 3.2 peer: every message is retained until acknowledged
        for (uint i = 0; i < MessagingNode.MinSendCapacity; i++)
        {
            node.SendMessage(2, TestCluster.Lockspace, TestCluster.Counted(i), "res"u8);
        }

        var wait = node.WaitForSendCapacityAsync(2, MessagingNode.MinSendCapacity).AsTask();
        Assert.False(wait.IsCompleted);

        var ack = new byte[WireLimits.HeaderSize];
        PacketWriter.WriteAck(ack, nextExpected: MessagingNode.MinSendCapacity, nodeId: 2); // what the peer sends after delivery 257
        transportSide.OnMessages(2, ack);

        await wait.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, node.GetStatistics(2).QueuedMessages);
    }

    [Fact]
    public async Task SendMessage_NodeNotConfigured_RefusedNamingIt()
    {
        await using var node = Node();
        var e = Assert.Throws<ArgumentException>(() => node.SendMessage(9, TestCluster.Lockspace, TestCluster.Counted(0), "res"u8));
        Assert.Contains("Node 9", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendMessage_LongerThanADlmMessageMayBe_RefusedAndNothingQueued()
    {
        await using var node = Node();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() =>
            node.SendMessage(2, TestCluster.Lockspace, TestCluster.Counted(0), new byte[WireLimits.MaxAppMessageLength]));
        Assert.Contains("spec §1.10", e.Message, StringComparison.Ordinal);
        var stats = node.GetStatistics(2);
        Assert.Equal(0, stats.QueuedMessages + stats.WaitingForVersion);
        Assert.Equal(0u, stats.SeqSend);
    }

    private static MessagingNode Node() => ReceiveBatchTests.NodeWithPeer2(new Recorder(1)).Node;

    private static byte[] Status() => ReceiveBatchTests.Status();
}
