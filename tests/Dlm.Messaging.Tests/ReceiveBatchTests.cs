using Dlm.Messaging;
using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm.Messaging.Tests;

/// <summary>
/// The receive path as the transport drives it: one <see cref="ITransportHandler.OnMessages"/> call per
/// socket read, many messages back to back. No sockets: the node is never started.
/// </summary>
public sealed class ReceiveBatchTests
{
    [Fact]
    public async Task OnMessages_HandlerThrowsOnOneMessage_TheRestOfTheBatchIsDeliveredAndTheFailureCounted()
    {
        var handler = new ThrowingHandler(throwOn: 3);
        var (node, transportSide) = NodeWithPeer2(handler);
        await using var _ = node;
        transportSide.OnMessages(2, Status());

        var batch = new List<byte>();
        for (uint i = 0; i < 10; i++)
        {
            batch.AddRange(Wrapped(sequence: i, counter: i));
        }

        transportSide.OnMessages(2, batch.ToArray());

        Assert.Equal(Enumerable.Range(0, 10).Select(i => (uint)i), handler.Seen);
        var stats = node.GetStatistics(2);
        Assert.Equal(10u, stats.SeqNext); // every sequence number consumed, the failed one too
        Assert.Equal(11, stats.Delivered); // the STATUS and ten messages
        Assert.Equal(1, stats.HandlerFailures);
        Assert.Equal(0, stats.MalformedDropped + stats.OtherDropped + stats.GapsDropped + stats.DuplicatesDropped);
    }

    [Fact]
    public async Task OnMessages_StateSubscriberThrows_HeldMessageGoesOutAndTheBatchIsDelivered()
    {
        // The batch that tells us the peer's version changes its state; a subscriber that throws there must
        // cost neither the message held for the version (spec §2.3) nor the rest of the batch.
        var handler = new ThrowingHandler(throwOn: uint.MaxValue);
        var (node, transportSide) = NodeWithPeer2(handler);
        await using var _ = node;
        var heard = new List<(int, PeerState)>();
        node.PeerStateChanged += (_, _) => throw new InvalidOperationException("the application's subscriber failed");
        node.PeerStateChanged += (id, state) => heard.Add((id, state));
        node.SendMessage(2, TestCluster.Lockspace, TestCluster.Counted(100), "res"u8);
        Assert.Equal(1, node.GetStatistics(2).WaitingForVersion);

        transportSide.OnMessages(2, [.. Status(), .. Enumerable.Range(0, 5).SelectMany(i => Wrapped((uint)i, (uint)i))]);

        Assert.Equal(Enumerable.Range(0, 5).Select(i => (uint)i), handler.Seen);
        var stats = node.GetStatistics(2);
        Assert.Equal(PeerState.Established, stats.State);
        Assert.Equal([(2, PeerState.Established)], heard);
        Assert.Equal(1, stats.HandlerFailures);
        Assert.Equal(0, stats.WaitingForVersion);
        Assert.Equal(1u, stats.SeqSend); // the held message went out wrapped, with sequence number 0
        Assert.Equal(5u, stats.SeqNext);
    }

    [Fact]
    public async Task OnMessages_MessagesSplitOverCallsAnyWay_DeliveredOnceEachInOrder()
    {
        var handler = new ThrowingHandler(throwOn: uint.MaxValue);
        var (node, transportSide) = NodeWithPeer2(handler);
        await using var _ = node;
        transportSide.OnMessages(2, Status());

        var messages = Enumerable.Range(0, 7).Select(i => Wrapped((uint)i, (uint)i)).ToList();
        transportSide.OnMessages(2, messages[0]);
        transportSide.OnMessages(2, messages[1].Concat(messages[2]).Concat(messages[3]).ToArray());
        transportSide.OnMessages(2, messages[4].Concat(messages[5]).ToArray());
        transportSide.OnMessages(2, messages[6]);

        Assert.Equal(Enumerable.Range(0, 7).Select(i => (uint)i), handler.Seen);
        Assert.Equal(0, node.GetStatistics(2).HandlerFailures);
    }

    [Theory]
    [InlineData(32, 0)]
    [InlineData(33, 1)]
    public async Task OnMessages_BatchLeavesMoreThan32Unacknowledged_NextSendPiggybacksAnAck(int messages, int acks)
    {
        // spec §2.3: the in-order path tells senders once per batch that an ACK is due.
        var (node, transportSide) = NodeWithPeer2(new ThrowingHandler(throwOn: uint.MaxValue));
        await using var _ = node;
        transportSide.OnMessages(2, Status());
        transportSide.OnMessages(2, Enumerable.Range(0, messages).SelectMany(i => Wrapped((uint)i, (uint)i)).ToArray());

        node.SendMessage(2, TestCluster.Lockspace, TestCluster.Counted(0), "res"u8);

        Assert.Equal(acks, node.GetStatistics(2).AcksSent); // the ACK rides at the head of the next write
    }

    [Fact]
    public void Next_RunOfMessages_TakesThemApartInOrder_AndRejectsARunThatIsNotWhole()
    {
        var first = Wrapped(0, 10);
        var second = Status();
        ReadOnlySpan<byte> run = [.. first, .. second];

        Assert.True(FrameReader.Next(ref run).SequenceEqual(first));
        Assert.True(FrameReader.Next(ref run).SequenceEqual(second));
        Assert.True(run.IsEmpty);

        Assert.Throws<ArgumentException>(() => TakeOne(first.AsSpan(0, first.Length - 1).ToArray())); // truncated
        var zeroLength = (byte[])first.Clone();
        zeroLength[DlmHeader.LengthOffset] = zeroLength[DlmHeader.LengthOffset + 1] = 0; // h_length 0 would never advance
        Assert.Throws<ArgumentException>(() => TakeOne(zeroLength));
    }

    private static void TakeOne(byte[] bytes)
    {
        ReadOnlySpan<byte> run = bytes;
        FrameReader.Next(ref run);
    }

    internal static (MessagingNode Node, ITransportHandler TransportSide) NodeWithPeer2(IMessageHandler handler)
    {
        var addresses = TestCluster.AllocateAddresses(2);
        var book = new[] { new NodeAddress(1, [addresses[0]]), new NodeAddress(2, [addresses[1]]) };
        var node = new MessagingNode(new MessagingOptions { Transport = new TransportOptions { Addresses = new AddressBook(1, book) } }, handler);
        return (node, node);
    }

    // The peer's STATUS: it speaks 3.2 (spec §2.8).
    internal static byte[] Status()
    {
        var bytes = new byte[WireLimits.RcomSize + WireLimits.RcomStatusSize];
        var length = PacketWriter.WriteRcom(bytes, TestCluster.Lockspace, 2, new RcomHeader(RcomType.Status, 0, 1, 1, 0), new byte[WireLimits.RcomStatusSize]);
        return bytes[..length];
    }

    private static byte[] Wrapped(uint sequence, uint counter)
    {
        var bytes = new byte[WireLimits.MaxMessageLength];
        var length = PacketWriter.WriteWrappedMessage(bytes, sequence, TestCluster.Lockspace, 2, TestCluster.Counted(counter), "res"u8);
        return bytes[..length];
    }

    // Records every delivered counter; throws after recording the one it was told to.
    private sealed class ThrowingHandler(uint throwOn) : IMessageHandler
    {
        public List<uint> Seen { get; } = [];

        public void OnMessage(int nodeId, in Packet packet)
        {
            if (packet.Kind != DlmCommand.Message)
            {
                return;
            }

            Seen.Add(packet.Message.LockId);
            if (packet.Message.LockId == throwOn)
            {
                throw new InvalidOperationException("the application failed on this message");
            }
        }
    }
}
