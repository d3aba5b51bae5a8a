using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Dlm.Protocol;

namespace Dlm.Messaging;

/// <summary>
/// The midcomms state of one peer (spec §2.2) and its rules: what to wrap (§2.3), what to accept
/// (§2.4–§2.5), acknowledgements (§2.6), version detection (§2.8) and the FIN handshake (§2.9).
/// Pure: no sockets, no clocks, no locks; the caller serialises calls (the peer lock, and for anything
/// that receives or resets also the receive lock, see <see cref="TryAcceptInOrder"/>) and carries out
/// the effects through <see cref="IPeerActions"/>.
/// </summary>
internal sealed partial class PeerProtocol
{
    /// <summary>6.5+: piggy-back an ACK when more than this many deliveries are unacknowledged (spec §2.3).</summary>
    public const int SendAckThreshold = 32;

    /// <summary>6.5+: send an ACK at once when more than this many deliveries are unacknowledged (spec §2.5).</summary>
    public const int ReceiveAckThreshold = 256;

    // The receiving thread writes _received on every delivery, a sender on another core writes _sent per
    // message, and both read Version. Each counter set has cache lines of its own, so neither side's
    // writes evict what the other reads. Senders learn that an ACK is due from _sent.AckDue instead of
    // the count: the receiver sets it past the threshold (see Counted; once per batch on the in-order
    // path, PublishAckDue), the ACK clears it.
    private readonly ReceiveCounters _received = new();
    private readonly SendCounters _sent = new();
    private long _acksSent;   // under the peer lock
    private long _acksPosted; // by the in-order path, without it

    public PeerProtocol(int nodeId) => NodeId = nodeId;

    public int NodeId { get; }

    /// <summary>0 = not yet detected, or <see cref="ProtocolVersion.V31"/> / <see cref="ProtocolVersion.V32"/>.</summary>
    public uint Version { get; private set; }

    /// <summary>Next sequence number to assign (<c>seq_send</c>).</summary>
    public uint SeqSend { get => _sent.SeqSend; private set => _sent.SeqSend = value; }

    /// <summary>Next sequence number expected from the peer (<c>seq_next</c>).</summary>
    public uint SeqNext { get => _received.SeqNext; private set => _received.SeqNext = value; }

    /// <summary>In-order deliveries since our last ACK (<c>ulp_delivered</c>).</summary>
    public int UlpDelivered { get => _received.UlpDelivered; private set => _received.UlpDelivered = value; }

    public PeerState State { get; private set; } = PeerState.Closed;

    /// <summary>Local lockspaces in which the peer is a member (<c>users</c>).</summary>
    public int Users { get; private set; }

    /// <summary>We sent FIN: sending more is a bug (only counted, as the kernel only warns).</summary>
    public bool StopTx { get; private set; }

    /// <summary>We must not receive more data (only counted).</summary>
    public bool StopRx { get; private set; }

    /// <summary>The node was closed by configuration; waiters give up.</summary>
    public bool IsClosedByConfiguration { get; private set; }

    /// <summary>Sequence number of our FIN while it is unacknowledged.</summary>
    public uint? FinSequence { get; private set; }

    public long Delivered { get => _received.Delivered; private set => _received.Delivered = value; }
    public long Duplicates { get; private set; }
    public long Gaps { get; private set; }
    public long AcksSent => _acksSent + Interlocked.Read(ref _acksPosted);
    public long Dropped { get; private set; }
    public long Resets { get; private set; }

    /// <summary>How a message of this kind goes to the peer now (spec §2.3, 6.6+ column for NAMES).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public SendMode ClassifySend(DlmCommand command, RcomType rcomType = 0, int rcomResult = 0)
    {
        var stateless = command == DlmCommand.Rcom && RcomTypes.IsStateless(rcomType)
            && !(rcomType == RcomType.StatusReply && rcomResult == Errno.NoSuchProcess);
        if (stateless)
        {
            return SendMode.Plain;
        }

        return Version switch
        {
            ProtocolVersion.V32 => SendMode.Wrapped,
            ProtocolVersion.V31 => SendMode.Plain,
            _ => SendMode.Wait,
        };
    }

    /// <summary>
    /// Before a wrapped message is queued (6.5+, spec §2.3): if more than 32 deliveries are
    /// unacknowledged, zero the count and queue an ACK first, so it rides in the same write.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void PiggybackAck(IPeerActions actions)
    {
        if (Volatile.Read(ref _sent.AckDue))
        {
            SendAck(actions);
        }
    }

    /// <summary>Assigns the next sequence number to a wrapped message (under the queue lock, spec §2.3).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint AssignSequence() => SeqSend++;

    /// <summary>
    /// The common case of spec §2.4–§2.5, taken without the peer lock: a wrapped DLM_MSG or DLM_RCOM from
    /// a 3.2 peer with the next sequence number and the peer's node id. Accepts it exactly as
    /// <see cref="OnReceive"/> would and returns true, the ACK after more than 256 deliveries included
    /// (posted with <see cref="IPeerActions.PostAck"/>, as this thread does not hold the peer lock);
    /// returns false, changing nothing, for anything else (the caller then takes the peer lock and calls
    /// <see cref="OnReceive"/>).
    /// </summary>
    /// <remarks>
    /// The caller holds the peer's receive lock. Every writer of <see cref="SeqNext"/> and
    /// <see cref="Version"/> holds it too (the receive path, and every caller that can reset), so both are
    /// stable here. A sender's piggy-backed ACK (under the peer lock only) may zero <see cref="UlpDelivered"/>
    /// meanwhile; a lost count changes only when the next ACK goes, never what it acknowledges, which is
    /// the <see cref="SeqNext"/> the sender read: a delivery this path made, or an earlier one.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryAcceptInOrder(in Packet packet, IPeerActions actions)
    {
        var header = packet.Header; // read once: each property reads the bytes again
        if (Version != ProtocolVersion.V32 || header.Version != ProtocolVersion.V32 || header.Command != DlmCommand.Opts
            || packet.Kind == DlmCommand.Fin || header.Sequence != SeqNext || packet.Inner.NodeId != NodeId)
        {
            return false;
        }

        SeqNext++;
        Delivered++;
        if (++UlpDelivered > ReceiveAckThreshold)
        {
            ClearDelivered();
            Interlocked.Increment(ref _acksPosted);
            actions.PostAck(SeqNext);
        }

        return true;
    }

    /// <summary>
    /// After a batch of <see cref="TryAcceptInOrder"/> deliveries, on the receiving thread: tells senders
    /// that an ACK is due once more than 32 are unacknowledged (spec §2.3). Once per batch rather than per
    /// delivery: the flag shares a line with what senders write per message, and each write of it
    /// takes that line from them. Written without testing it first, after the count (see Counted).
    /// </summary>
    public void PublishAckDue() => Counted(UlpDelivered);

    /// <summary>
    /// Processes one decoded message from the peer (spec §2.4). <paramref name="bodyValid"/> is false when
    /// its contents failed <see cref="PacketDecoder.TryValidateBody"/>: such a message is never delivered,
    /// but a wrapped one still consumes its sequence number.
    /// </summary>
    public ReceiveVerdict OnReceive(in Packet packet, IPeerActions actions, bool bodyValid = true)
    {
        var version = packet.Header.Version;
        if (Version == 0)
        {
            Version = version;
            if (version == ProtocolVersion.V32 && State == PeerState.Closed)
            {
                State = PeerState.Established;
            }
        }
        else if (Version != version)
        {
            return Drop(ReceiveVerdict.VersionMismatch);
        }

        return version == ProtocolVersion.V31 ? Receive31(packet, bodyValid) : Receive32(packet, actions, bodyValid);
    }

    // spec §2.4 step 4: a 3.1 peer sends plain DLM_MSG and DLM_RCOM only.
    private ReceiveVerdict Receive31(in Packet packet, bool bodyValid) => packet.Header.Command switch
    {
        DlmCommand.Message or DlmCommand.Rcom => DeliverChecked(packet, bodyValid),
        _ => Drop(ReceiveVerdict.Unsupported),
    };

    // spec §2.4 step 5.
    private ReceiveVerdict Receive32(in Packet packet, IPeerActions actions, bool bodyValid)
    {
        switch (packet.Header.Command)
        {
            case DlmCommand.Rcom when RcomTypes.MayArrivePlain(packet.Rcom.Type):
                return DeliverChecked(packet, bodyValid);
            case DlmCommand.Opts:
                return ReceiveSequenced(packet, actions, bodyValid);
            case DlmCommand.Ack:
                OnAck(packet.Header.Sequence, actions);
                return ReceiveVerdict.Consumed;
            default:
                // plain DLM_MSG, plain stateful RCOM, plain FIN: unsupported on 3.2
                return Drop(ReceiveVerdict.Unsupported);
        }
    }

    // spec §2.5: accept the next sequence number only; re-ACK duplicates; drop gaps.
    private ReceiveVerdict ReceiveSequenced(in Packet packet, IPeerActions actions, bool bodyValid)
    {
        var seq = packet.Header.Sequence;
        if (seq != SeqNext)
        {
            if (seq < SeqNext)
            {
                Duplicates++;
                SendAck(actions);
                return ReceiveVerdict.Duplicate;
            }

            Gaps++;
            return ReceiveVerdict.Gap;
        }

        SeqNext++;
        if (packet.Kind == DlmCommand.Fin)
        {
            OnFin(actions);
            return ReceiveVerdict.Consumed;
        }

        // The sequence number is consumed, and the message counted as delivered to the layer above for the
        // ACK thresholds, even when that layer then rejects it (spec §1.2, §2.5, §4.20): a peer whose
        // messages we reject is still acknowledged, so its queue drains.
        var verdict = DeliverChecked(packet, bodyValid);
        if (Counted(++UlpDelivered) > ReceiveAckThreshold)
        {
            SendAck(actions);
        }

        return verdict;
    }

    private ReceiveVerdict DeliverChecked(in Packet packet, bool bodyValid)
    {
        if (!bodyValid)
        {
            return ReceiveVerdict.Malformed; // counted by the caller, which has the decoder's error
        }

        if (packet.Inner.NodeId != NodeId)
        {
            return Drop(ReceiveVerdict.WrongNode);
        }

        Delivered++;
        return ReceiveVerdict.Deliver;
    }

    private ReceiveVerdict Drop(ReceiveVerdict reason)
    {
        Dropped++;
        return reason;
    }

    private void SendAck(IPeerActions actions)
    {
        ClearDelivered();
        _acksSent++;
        actions.SendAck(SeqNext);
    }

    // After a delivery (or a batch of them), on the receiving thread: past the piggy-back threshold the
    // flag is written each time, not tested first, so a sender clearing it concurrently (ClearDelivered)
    // cannot leave it stale (spec §2.3: piggy-back when more than 32 deliveries are unacknowledged).
    private int Counted(int unacknowledged)
    {
        if (unacknowledged > SendAckThreshold)
        {
            Volatile.Write(ref _sent.AckDue, true); // after the count's write, on every architecture
        }

        return unacknowledged;
    }

    // An ACK goes (the peer lock held; the in-order receive path may be counting at the same time).
    // The fence orders the flag's clearing before the count is read again, so either this thread sees a
    // delivery past the threshold that happened meanwhile, or that delivery's write of the flag lands
    // after the clearing.
    private void ClearDelivered()
    {
        UlpDelivered = 0;
        _sent.AckDue = false;
        Interlocked.MemoryBarrier();
        if (UlpDelivered > SendAckThreshold)
        {
            _sent.AckDue = true;
        }
    }

    /// <summary>Reset (spec §2.2): sequence space, version and queue start over; state CLOSED.</summary>
    private void Reset(IPeerActions actions)
    {
        SeqNext = SeqSend = 0;
        ClearDelivered();
        Version = 0;
        StopTx = StopRx = false;
        FinSequence = null;
        State = PeerState.Closed;
        Resets++;
        actions.ClearQueue();
    }

    // 64 bytes of padding before and after the counters, so no other object's fields share their cache
    // lines (the runtime ignores StructLayout.Size on classes: the End field makes the object that long).
    [StructLayout(LayoutKind.Explicit)]
    private sealed class ReceiveCounters
    {
        [FieldOffset(64)]
        public uint SeqNext;

        [FieldOffset(68)]
        public int UlpDelivered;

        [FieldOffset(72)]
        public long Delivered;

        [FieldOffset(136)]
        public long End;
    }

    [StructLayout(LayoutKind.Explicit)]
    private sealed class SendCounters
    {
        [FieldOffset(64)]
        public uint SeqSend;

        [FieldOffset(68)]
        public bool AckDue;

        [FieldOffset(128)]
        public long End;
    }
}
