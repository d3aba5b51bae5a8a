using System.Buffers.Binary;
using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm.Messaging.Tests;

/// <summary>Receive rules (spec §2.4, §2.5), ACK thresholds (§2.3, §2.6) and the FIN handshake over real write queues.</summary>
public sealed partial class PeerProtocolTests
{
    // ---- version detection (spec §2.4 step 3, §2.8) ---------------------------------------------

    [Fact]
    public void OnReceive_FirstV31Message_DetectsV31AndStaysClosed()
    {
        var a = new RecordingActions();
        var p = new PeerProtocol(PeerNode);

        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.Rcom(RcomType.StatusReply, version: ProtocolVersion.V31), a));

        Assert.Equal(ProtocolVersion.V31, p.Version);
        Assert.Equal(PeerState.Closed, p.State);
        Assert.True(p.IsVersionSettled);
        Assert.Empty(a.Calls);
    }

    [Fact]
    public void OnReceive_FirstV32Message_DetectsV32()
    {
        var a = new RecordingActions();
        var p = new PeerProtocol(PeerNode);

        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.Rcom(RcomType.Status), a));

        Assert.Equal(ProtocolVersion.V32, p.Version);
        Assert.True(p.IsVersionSettled);
        Assert.Equal(1, p.Delivered);
    }

    [Theory]
    [InlineData(ProtocolVersion.V31, ProtocolVersion.V32)]
    [InlineData(ProtocolVersion.V32, ProtocolVersion.V31)]
    public void OnReceive_OtherVersionAfterDetection_VersionMismatch(uint first, uint second)
    {
        var a = new RecordingActions();
        var p = WithVersion(first, a);

        Assert.Equal(ReceiveVerdict.VersionMismatch, Receive(p, PeerPackets.Rcom(RcomType.Status, version: second), a));
        Assert.Equal(ReceiveVerdict.VersionMismatch, Receive(p, PeerPackets.Message(version: second), a));

        Assert.Equal(first, p.Version);
        Assert.Equal(2, p.Dropped);
        Assert.Equal(1, p.Delivered);
        Assert.Empty(a.Calls);
    }

    // ---- 3.1 path (spec §2.4 step 4) ---------------------------------------------------------------

    [Fact]
    public void OnReceive_V31PlainMessage_Delivered()
    {
        var a = new RecordingActions();
        var p = WithVersion(ProtocolVersion.V31, a);

        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.Message(version: ProtocolVersion.V31), a));
        Assert.Equal(0u, p.SeqNext);
        Assert.Empty(a.Calls);
    }

    [Theory]
    [InlineData(RcomType.Status)]
    [InlineData(RcomType.Names)]
    [InlineData(RcomType.Lookup)]
    [InlineData(RcomType.Lock)]
    [InlineData(RcomType.StatusReply)]
    [InlineData(RcomType.NamesReply)]
    [InlineData(RcomType.LookupReply)]
    [InlineData(RcomType.LockReply)]
    public void OnReceive_V31PlainRcom_DeliveredWhateverTheType(RcomType type)
    {
        var a = new RecordingActions();
        var p = WithVersion(ProtocolVersion.V31, a);

        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.Rcom(type, version: ProtocolVersion.V31), a));
        Assert.Empty(a.Calls);
    }

    [Fact]
    public void OnReceive_V31Ack_DroppedWithoutRelease()
    {
        var a = new RecordingActions();
        var p = WithVersion(ProtocolVersion.V31, a);

        Assert.Equal(ReceiveVerdict.Unsupported, Receive(p, PeerPackets.WithOuterVersion(PeerPackets.Ack(5), ProtocolVersion.V31), a));

        Assert.Empty(a.Calls);
        Assert.Equal(1, p.Dropped);
    }

    [Fact]
    public void OnReceive_V31OptsOrFin_Dropped()
    {
        var a = new RecordingActions();
        var p = WithVersion(ProtocolVersion.V31, a);

        Assert.Equal(ReceiveVerdict.Unsupported, Receive(p, PeerPackets.WithOuterVersion(PeerPackets.WrappedMessage(0), ProtocolVersion.V31), a));
        Assert.Equal(ReceiveVerdict.Unsupported, Receive(p, PeerPackets.WithOuterVersion(PeerPackets.Fin(0), ProtocolVersion.V31), a));
        Assert.Equal(ReceiveVerdict.Unsupported, Receive(p, PeerPackets.WithOuterVersion(PeerPackets.PlainFin(), ProtocolVersion.V31), a));

        Assert.Empty(a.Calls);
        Assert.Equal(0u, p.SeqNext);
        Assert.Equal(3, p.Dropped);
    }

    // ---- 3.2 path, plain messages (spec §2.4 step 5) ------------------------------------------------

    [Theory]
    [InlineData(RcomType.Status)]
    [InlineData(RcomType.StatusReply)]
    [InlineData(RcomType.Names)]
    [InlineData(RcomType.NamesReply)]
    public void OnReceive_V32PlainStatelessRcom_DeliveredWithoutSequence(RcomType type)
    {
        var a = new RecordingActions();
        var p = Established(a);

        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.Rcom(type), a));

        Assert.Equal(0u, p.SeqNext);
        Assert.Equal(0, p.UlpDelivered);
        Assert.Empty(a.Calls);
    }

    [Theory]
    [InlineData(RcomType.Lookup)]
    [InlineData(RcomType.LookupReply)]
    [InlineData(RcomType.Lock)]
    [InlineData(RcomType.LockReply)]
    public void OnReceive_V32PlainStatefulRcom_Unsupported(RcomType type)
    {
        var a = new RecordingActions();
        var p = Established(a);

        Assert.Equal(ReceiveVerdict.Unsupported, Receive(p, PeerPackets.Rcom(type), a));

        Assert.Equal(1, p.Dropped);
        Assert.Equal(1, p.Delivered); // the detecting STATUS only
        Assert.Empty(a.Calls);
    }

    [Fact]
    public void OnReceive_V32PlainMessage_Unsupported()
    {
        var a = new RecordingActions();
        var p = Established(a);

        Assert.Equal(ReceiveVerdict.Unsupported, Receive(p, PeerPackets.Message(), a));

        Assert.Equal(1, p.Dropped);
        Assert.Equal(0u, p.SeqNext);
        Assert.Empty(a.Calls);
    }

    [Fact]
    public void OnReceive_V32PlainFin_DroppedWithoutStateChange()
    {
        var a = new RecordingActions();
        var p = Established(a);

        Assert.Equal(ReceiveVerdict.Unsupported, Receive(p, PeerPackets.PlainFin(), a));

        Assert.Equal(PeerState.Established, p.State);
        Assert.Equal(0u, p.SeqNext);
        Assert.Empty(a.Calls);
    }

    [Fact]
    public void OnReceive_PlainFromWrongNode_WrongNode()
    {
        var a = new RecordingActions();
        var p = Established(a);

        Assert.Equal(ReceiveVerdict.WrongNode, Receive(p, PeerPackets.Rcom(RcomType.Status, node: 3), a));
        Assert.Equal(1, p.Dropped);
    }

    // ---- 3.2 path, sequenced messages (spec §2.5) ---------------------------------------------------

    [Fact]
    public void OnReceive_WrappedInOrder_DeliversAndAdvances()
    {
        var a = new RecordingActions();
        var p = Established(a);

        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(0), a));
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedRcom(1, RcomType.Lock), a));
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedRcom(2, RcomType.NamesReply), a));

        Assert.Equal(3u, p.SeqNext);
        Assert.Equal(3, p.UlpDelivered);
        Assert.Equal(4, p.Delivered);
        Assert.Empty(a.Calls);
    }

    [Fact]
    public void OnReceive_WrappedDuplicate_DroppedAndReAckedWithSeqNext()
    {
        var a = new RecordingActions();
        var p = Established(a);
        for (uint i = 0; i < 3; i++)
        {
            Receive(p, PeerPackets.WrappedMessage(i), a);
        }

        Assert.Equal(ReceiveVerdict.Duplicate, Receive(p, PeerPackets.WrappedMessage(1), a));
        Assert.Equal(ReceiveVerdict.Duplicate, Receive(p, PeerPackets.Fin(0), a));

        Assert.Equal(new[] { "SendAck(3)", "SendAck(3)" }, a.Calls);
        Assert.Equal(3u, p.SeqNext);
        Assert.Equal(0, p.UlpDelivered);
        Assert.Equal(2, p.Duplicates);
        Assert.Equal(PeerState.Established, p.State);
    }

    [Fact]
    public void OnReceive_WrappedGap_DroppedWithoutAck()
    {
        var a = new RecordingActions();
        var p = Established(a);
        Receive(p, PeerPackets.WrappedMessage(0), a);

        Assert.Equal(ReceiveVerdict.Gap, Receive(p, PeerPackets.WrappedMessage(2), a));
        Assert.Equal(ReceiveVerdict.Gap, Receive(p, PeerPackets.Fin(5), a));

        Assert.Empty(a.Calls);
        Assert.Equal(1u, p.SeqNext);
        Assert.Equal(2, p.Gaps);
        Assert.Equal(PeerState.Established, p.State);
        // The retransmission fills the gap, then the dropped message is accepted.
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(1), a));
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(2), a));
        Assert.Equal(3u, p.SeqNext);
    }

    [Fact]
    public void OnReceive_WrappedWithWrongInnerNode_WrongNodeButSequenceConsumed()
    {
        var a = new RecordingActions();
        var p = Established(a);

        Assert.Equal(ReceiveVerdict.WrongNode, Receive(p, PeerPackets.WrappedMessage(0, PeerNode, innerNode: 3), a));

        Assert.Equal(1u, p.SeqNext);
        Assert.Equal(1, p.UlpDelivered); // counted for the ACK thresholds like any accepted message, as the kernel does (spec §2.5)
        Assert.Equal(1, p.Dropped);
        Assert.Empty(a.Calls);
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(1), a));
    }

    // Contents the decoder rejected (PacketDecoder.TryValidateBody) behind a sound envelope: the sequence
    // number is consumed and the message counts toward the receive-side ACK, but nothing is delivered.
    [Fact]
    public void OnReceive_InvalidContentsInSequence_MalformedConsumedAndAckedPast256()
    {
        var a = new RecordingActions();
        var p = Established(a);
        var delivered = p.Delivered;

        for (uint i = 0; i <= PeerProtocol.ReceiveAckThreshold; i++)
        {
            Assert.Equal(ReceiveVerdict.Malformed, p.OnReceive(PacketDecoder.Decode(PeerPackets.WrappedMessage(i)), a, bodyValid: false));
        }

        Assert.Equal(257u, p.SeqNext);
        Assert.Equal(delivered, p.Delivered);
        Assert.Equal(new[] { "SendAck(257)" }, a.Calls);
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(257), a));
    }

    [Fact]
    public void OnReceive_Ack_ConsumedAndReleases()
    {
        var a = new RecordingActions();
        var p = Established(a);

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Ack(5), a));

        Assert.Equal(new[] { "Release(5)" }, a.Calls);
        Assert.Equal(PeerState.Established, p.State);
    }

    [Fact]
    public void OnReceive_WrappedFin_NotCountedInUlpDelivered()
    {
        var a = new RecordingActions();
        var p = Established(a, users: 1);
        Receive(p, PeerPackets.WrappedMessage(0), a);

        Receive(p, PeerPackets.Fin(1), a);

        Assert.Equal(new[] { "SendAck(2)" }, a.Calls);
        Assert.Equal(0, p.UlpDelivered);
        Assert.Equal(2, p.Delivered);
    }

    // ---- ACK thresholds (6.5+, spec §2.3, §2.5) ------------------------------------------------------

    [Fact]
    public void OnReceive_257thDeliverySinceLastAck_SendsAckAndResetsCount()
    {
        var a = new RecordingActions();
        var p = Established(a);
        uint seq = 0;
        for (; seq < PeerProtocol.ReceiveAckThreshold; seq++)
        {
            Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(seq), a));
        }

        Assert.Empty(a.Calls);
        Assert.Equal(256, p.UlpDelivered);

        Receive(p, PeerPackets.WrappedMessage(seq++), a);
        Assert.Equal(new[] { "SendAck(257)" }, a.Calls);
        Assert.Equal(0, p.UlpDelivered);

        // The count starts over: the next ACK comes 257 deliveries later.
        for (var i = 0; i < 256; i++)
        {
            Receive(p, PeerPackets.WrappedMessage(seq++), a);
        }

        Assert.Single(a.Calls);
        Receive(p, PeerPackets.WrappedMessage(seq++), a);
        Assert.Equal(new[] { "SendAck(257)", "SendAck(514)" }, a.Calls);
    }

    [Fact]
    public void OnReceive_ThresholdInFinWait2_StillAcks()
    {
        // spec §9.2: the threshold ACK is sent regardless of the FIN state.
        var a = new RecordingActions();
        var p = InState(PeerState.FinWait2, a);
        for (uint seq = 0; seq <= PeerProtocol.ReceiveAckThreshold; seq++)
        {
            Receive(p, PeerPackets.WrappedMessage(seq), a);
        }

        Assert.Equal(new[] { "SendAck(257)" }, a.Calls);
    }

    [Theory]
    [InlineData(32, false)]
    [InlineData(33, true)]
    public void PiggybackAck_AfterDeliveries_AcksOnlyAbove32(int deliveries, bool acks)
    {
        var a = new RecordingActions();
        var p = Established(a);
        for (uint seq = 0; seq < deliveries; seq++)
        {
            Receive(p, PeerPackets.WrappedMessage(seq), a);
        }

        p.PiggybackAck(a);

        Assert.Equal(acks ? new[] { $"SendAck({deliveries})" } : [], a.Calls);
        Assert.Equal(acks ? 0 : deliveries, p.UlpDelivered);
        Assert.Equal(acks ? 1 : 0, p.AcksSent);
        p.PiggybackAck(a); // nothing new delivered: no second ACK
        Assert.Equal(acks ? 1 : 0, a.Calls.Count);
    }

    [Fact]
    public void PiggybackAck_AfterInOrderFastPathBatches_AcksAbove32_AgainAfterTheNext33()
    {
        // Senders see the due ACK through a flag the receiving side sets at the end of each batch (the
        // count lives on another cache line).
        var a = new RecordingActions();
        var p = Established(a);
        uint seq = 0;
        for (var round = 1; round <= 2; round++)
        {
            for (var i = 0; i < PeerProtocol.SendAckThreshold; i++)
            {
                Assert.True(p.TryAcceptInOrder(PacketDecoder.Decode(PeerPackets.WrappedMessage(seq++)), a));
            }

            p.PublishAckDue();
            p.PiggybackAck(a);
            Assert.Equal(round - 1, p.AcksSent); // 32 unacknowledged: not yet

            Assert.True(p.TryAcceptInOrder(PacketDecoder.Decode(PeerPackets.WrappedMessage(seq++)), a));
            p.PiggybackAck(a);
            Assert.Equal(round - 1, p.AcksSent); // 33, but the batch has not ended

            p.PublishAckDue();
            p.PiggybackAck(a);
            Assert.Equal(round, p.AcksSent);
            Assert.Equal($"SendAck({seq})", a.Calls[^1]);
            Assert.Equal(0, p.UlpDelivered);
        }
    }

    // ---- FIN handshake over write queues wired like Peer (src/Dlm.Messaging/Peer.cs) -----------------

    [Fact]
    public void FinHandshake_OverWriteQueues_ActiveSideFinalAckReachesPassiveSide()
    {
        var (a, aq, b, bq) = QueuedPair();

        Assert.True(a.StartShutdown(aq));
        Transfer(aq, b, bq);                 // FIN(0) → B: ACK(1) and FIN(0) queued, LAST_ACK
        Assert.Equal(PeerState.LastAck, b.State);
        Transfer(bq, a, aq);                 // → A: FIN_WAIT2, then FIN: ACK(1) queued, reset
        Assert.Equal(PeerState.Closed, a.State);

        Assert.Equal(1, Transfer(aq, b, bq)); // the ACK of B's FIN must still go out
        Assert.Equal(PeerState.Closed, b.State);
    }

    [Fact]
    public void FinHandshake_OverWriteQueues_SimultaneousCloseAcksSurviveReset()
    {
        var (a, aq, b, bq) = QueuedPair();

        Assert.True(a.StartShutdown(aq));
        Assert.True(b.StartShutdown(bq));
        Transfer(aq, b, bq);                 // A's FIN → B: ACK(1) queued behind B's FIN, CLOSING
        Transfer(bq, a, aq);                 // B's FIN, ACK(1) in one read → A: ACK(1) queued, then reset
        Assert.Equal(PeerState.Closed, a.State);

        Assert.Equal(1, Transfer(aq, b, bq)); // A's ACK of B's FIN must still go out
        Assert.Equal(PeerState.Closed, b.State);
    }

    private static (PeerProtocol A, QueueActions AQueue, PeerProtocol B, QueueActions BQueue) QueuedPair()
    {
        var aq = new QueueActions(LocalNode);
        var bq = new QueueActions(PeerNode);
        var a = new PeerProtocol(PeerNode);
        var b = new PeerProtocol(LocalNode);
        Receive(a, PeerPackets.Rcom(RcomType.Status, PeerNode), aq);
        Receive(b, PeerPackets.Rcom(RcomType.StatusReply, LocalNode), bq);
        Assert.Equal(PeerState.Established, a.State);
        Assert.Equal(PeerState.Established, b.State);
        return (a, aq, b, bq);
    }

    /// <summary>One socket write: whatever <paramref name="from"/> can copy out, framed by h_length, to <paramref name="to"/>.</summary>
    private static int Transfer(QueueActions from, PeerProtocol to, QueueActions toActions)
    {
        var buffer = new byte[64 * 1024];
        var length = from.Queue.CopyOut(buffer, out var messages);
        for (var offset = 0; offset < length;)
        {
            var frame = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(offset + DlmHeader.LengthOffset));
            Assert.Equal(ReceiveVerdict.Consumed, to.OnReceive(PacketDecoder.Decode(buffer.AsSpan(offset, frame)), toActions));
            offset += frame;
        }

        return messages;
    }
}

/// <summary>
/// The effects carried out on a <see cref="WriteQueue"/> exactly as <c>Peer</c> does on its
/// connection's queue: ACK = plain, not retained; FIN = wrapped, retained with its sequence;
/// Release = <see cref="WriteQueue.Release"/>; ClearQueue = <see cref="WriteQueue.Clear"/>.
/// </summary>
internal sealed class QueueActions(int localNode) : IPeerActions
{
    public WriteQueue Queue { get; } = new();

    public void SendAck(uint nextExpected)
    {
        var slot = Queue.Reserve(WireLimits.HeaderSize, retained: false, 0);
        PacketWriter.WriteAck(slot.Span, nextExpected, localNode);
        Assert.True(Queue.Commit(slot.Id));
    }

    public void PostAck(uint nextExpected) => SendAck(nextExpected);

    public void SendFin(uint sequence)
    {
        var slot = Queue.Reserve(WireLimits.OptsSize + WireLimits.HeaderSize, retained: true, sequence);
        PacketWriter.WriteWrappedFin(slot.Span, sequence, localNode);
        Assert.True(Queue.Commit(slot.Id));
    }

    public void Release(uint nextExpected) => Queue.Release(nextExpected);

    public void ClearQueue() => Queue.DropRetained();
}
