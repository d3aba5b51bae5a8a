using System.Buffers.Binary;
using Dlm.Protocol;

namespace Dlm.Messaging.Tests;

/// <summary>
/// The pure midcomms state machine (spec §2): what is wrapped (§2.3), receive rules (§2.4–§2.5),
/// ACK policy (§2.6), version detection (§2.8) and the FIN handshake (§2.9, §9.2). Packets are
/// built with <see cref="PacketWriter"/> and decoded with <see cref="PacketDecoder"/>; effects are
/// recorded by <see cref="RecordingActions"/>. No sockets, threads or clocks.
/// </summary>
public sealed partial class PeerProtocolTests
{
    private const int LocalNode = PeerPackets.LocalNode;
    private const int PeerNode = PeerPackets.PeerNode;

    // ---- ClassifySend (spec §2.3) ---------------------------------------------------------------

    [Theory]
    [InlineData(0u)]
    [InlineData(ProtocolVersion.V31)]
    [InlineData(ProtocolVersion.V32)]
    public void ClassifySend_StatusAndStatusReply_PlainWhateverTheVersion(uint version)
    {
        var p = WithVersion(version, new RecordingActions());

        Assert.Equal(SendMode.Plain, p.ClassifySend(DlmCommand.Rcom, RcomType.Status));
        Assert.Equal(SendMode.Plain, p.ClassifySend(DlmCommand.Rcom, RcomType.StatusReply));
        Assert.Equal(SendMode.Plain, p.ClassifySend(DlmCommand.Rcom, RcomType.StatusReply, Errno.Ok));
        Assert.Equal(SendMode.Plain, p.ClassifySend(DlmCommand.Rcom, RcomType.Status, Errno.NoSuchProcess));
    }

    [Theory]
    [InlineData(0u, SendMode.Wait)]
    [InlineData(ProtocolVersion.V31, SendMode.Plain)]
    [InlineData(ProtocolVersion.V32, SendMode.Wrapped)]
    public void ClassifySend_StatusReplyNotReady_FollowsTheVersion(uint version, SendMode expected)
    {
        var p = WithVersion(version, new RecordingActions());

        Assert.Equal(expected, p.ClassifySend(DlmCommand.Rcom, RcomType.StatusReply, Errno.NoSuchProcess));
    }

    [Theory]
    [InlineData(DlmCommand.Message, (RcomType)0, 0u, SendMode.Wait)]
    [InlineData(DlmCommand.Message, (RcomType)0, ProtocolVersion.V32, SendMode.Wrapped)]
    [InlineData(DlmCommand.Message, (RcomType)0, ProtocolVersion.V31, SendMode.Plain)]
    [InlineData(DlmCommand.Rcom, RcomType.Lookup, 0u, SendMode.Wait)]
    [InlineData(DlmCommand.Rcom, RcomType.Lookup, ProtocolVersion.V32, SendMode.Wrapped)]
    [InlineData(DlmCommand.Rcom, RcomType.Lookup, ProtocolVersion.V31, SendMode.Plain)]
    [InlineData(DlmCommand.Rcom, RcomType.LookupReply, 0u, SendMode.Wait)]
    [InlineData(DlmCommand.Rcom, RcomType.LookupReply, ProtocolVersion.V32, SendMode.Wrapped)]
    [InlineData(DlmCommand.Rcom, RcomType.Lock, 0u, SendMode.Wait)]
    [InlineData(DlmCommand.Rcom, RcomType.Lock, ProtocolVersion.V32, SendMode.Wrapped)]
    [InlineData(DlmCommand.Rcom, RcomType.Lock, ProtocolVersion.V31, SendMode.Plain)]
    [InlineData(DlmCommand.Rcom, RcomType.LockReply, ProtocolVersion.V32, SendMode.Wrapped)]
    [InlineData(DlmCommand.Rcom, RcomType.Names, 0u, SendMode.Wait)]
    [InlineData(DlmCommand.Rcom, RcomType.Names, ProtocolVersion.V32, SendMode.Wrapped)]
    [InlineData(DlmCommand.Rcom, RcomType.Names, ProtocolVersion.V31, SendMode.Plain)]
    [InlineData(DlmCommand.Rcom, RcomType.NamesReply, 0u, SendMode.Wait)]
    [InlineData(DlmCommand.Rcom, RcomType.NamesReply, ProtocolVersion.V32, SendMode.Wrapped)]
    [InlineData(DlmCommand.Rcom, RcomType.NamesReply, ProtocolVersion.V31, SendMode.Plain)]
    public void ClassifySend_StatefulMessages_WaitWrappedOrPlainByVersion(DlmCommand command, RcomType type, uint version, SendMode expected)
    {
        var p = WithVersion(version, new RecordingActions());

        Assert.Equal(expected, p.ClassifySend(command, type));
    }

    // ---- a 3.1 peer (spec §2.8) -----------------------------------------------------------------

    [Fact]
    public void OnReceive_V31Peer_NeverAcksAndSkipsTheFinHandshake()
    {
        var a = new RecordingActions();
        var p = WithVersion(ProtocolVersion.V31, a);
        p.AddUser(a);

        for (uint i = 0; i < 300; i++)
        {
            Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.Message(version: ProtocolVersion.V31, lockId: i), a));
        }

        p.PiggybackAck(a);
        p.RemoveUser(a);
        Assert.Equal(301, p.Delivered); // and the detecting STATUS
        Assert.Equal(0, p.UlpDelivered);
        Assert.Equal(0, p.AcksSent);
        Assert.False(p.StartShutdown(a));
        Assert.True(p.IsShutdownComplete);
        Assert.True(p.IsVersionSettled);
        Assert.Empty(a.Calls);
        Assert.Equal(ProtocolVersion.V31, p.Version);
        Assert.Equal(0u, p.SeqSend);
    }

    [Fact]
    public void StartShutdown_VersionNeverDetected_SendsNothing()
    {
        // spec §9.2 addition: midcomms_shutdown skips any node whose version is not 3.2, 0 included.
        var a = new RecordingActions();
        var p = new PeerProtocol(PeerNode);
        p.AddUser(a);
        p.RemoveUser(a);

        Assert.Equal(PeerState.Established, p.State);
        Assert.False(p.StartShutdown(a));
        Assert.True(p.IsShutdownComplete);
        Assert.False(p.IsVersionSettled);
        Assert.Empty(a.Calls);
        Assert.Equal(PeerState.Established, p.State);
    }

    // ---- users (spec §2.11: remove_member ignored at users == 0) ----------------------------------

    [Fact]
    public void RemoveUser_NoUsers_IgnoredWithoutNegativeCount()
    {
        var a = new RecordingActions();
        var p = Established(a);

        p.RemoveUser(a);
        p.RemoveUser(a);

        Assert.Equal(0, p.Users);
        Assert.Empty(a.Calls);
        p.AddUser(a);
        Assert.Equal(1, p.Users);
        p.RemoveUser(a);
        Assert.Equal(0, p.Users);
    }

    [Fact]
    public void RemoveUser_NoUsersInCloseWait_IgnoredAndNoFin()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.CloseWait, a);
        p.RemoveUser(a);
        Assert.Equal(PeerState.LastAck, p.State);
        a.Calls.Clear();

        p.RemoveUser(a);

        Assert.Equal(0, p.Users);
        Assert.Empty(a.Calls);
        Assert.Equal(PeerState.LastAck, p.State);
    }

    // ---- sequence wrap near 2^32 (spec §2.6, §2.12) ------------------------------------------------
    // The class offers no way to set seq_send / seq_next, and reaching 2^32 by counting is too slow
    // for a unit test, so these tests move the counters with reflection on the private setters.

    [Fact]
    public void AssignSequence_AtMaximum_WrapsToZero()
    {
        var p = new PeerProtocol(PeerNode);
        ForceProperty(p, nameof(PeerProtocol.SeqSend), 0xFFFF_FFFEu);

        Assert.Equal(0xFFFF_FFFEu, p.AssignSequence());
        Assert.Equal(0xFFFF_FFFFu, p.AssignSequence());
        Assert.Equal(0u, p.AssignSequence());
        Assert.Equal(1u, p.SeqSend);
    }

    [Theory]
    [InlineData(0x0000_0000u, true)]
    [InlineData(0x0000_0002u, true)]
    [InlineData(0x7FFF_FFFEu, true)]
    [InlineData(0xFFFF_FFFFu, false)]
    [InlineData(0xFFFF_FFFEu, false)]
    [InlineData(0x8000_0000u, false)]
    public void OnAck_FinAtSequenceMaximum_WrapSafeComparison(uint ack, bool acknowledgesFin)
    {
        var a = new RecordingActions();
        var p = Established(a);
        ForceProperty(p, nameof(PeerProtocol.SeqSend), 0xFFFF_FFFFu);
        Assert.True(p.StartShutdown(a));
        Assert.Equal(0xFFFF_FFFFu, p.FinSequence);
        Assert.Equal(0u, p.SeqSend);
        a.Calls.Clear();

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Ack(ack), a));

        Assert.Equal(new[] { $"Release({ack})" }, a.Calls);
        Assert.Equal(acknowledgesFin ? PeerState.FinWait2 : PeerState.FinWait1, p.State);
        Assert.Equal(acknowledgesFin ? null : (uint?)0xFFFF_FFFFu, p.FinSequence);
    }

    [Fact]
    public void OnReceive_SequenceWrap_AcceptsInOrderAcrossZero()
    {
        var a = new RecordingActions();
        var p = Established(a);
        ForceProperty(p, nameof(PeerProtocol.SeqNext), 0xFFFF_FFFEu);

        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(0xFFFF_FFFEu), a));
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(0xFFFF_FFFFu), a));
        Assert.Equal(0u, p.SeqNext);
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(0u), a));
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(1u), a));
        Assert.Equal(2u, p.SeqNext);
        Assert.Equal(4, p.UlpDelivered);
        Assert.Empty(a.Calls);
    }

    [Fact]
    public void OnReceive_DuplicateFromBeforeWrap_DroppedButNotReAcked()
    {
        // spec §2.12: the duplicate rule is a plain '<', so right after the wrap an old sequence
        // number looks like a gap: still dropped, but not re-ACKed. One after the wrap is re-ACKed.
        var a = new RecordingActions();
        var p = Established(a);
        ForceProperty(p, nameof(PeerProtocol.SeqNext), 0xFFFF_FFFFu);
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(0xFFFF_FFFFu), a));
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(0u), a));

        Assert.Equal(ReceiveVerdict.Gap, Receive(p, PeerPackets.WrappedMessage(0xFFFF_FFFFu), a));
        Assert.Empty(a.Calls);
        Assert.Equal(ReceiveVerdict.Duplicate, Receive(p, PeerPackets.WrappedMessage(0u), a));
        Assert.Equal(new[] { "SendAck(1)" }, a.Calls);
        Assert.Equal(1u, p.SeqNext);
    }

    // ---- helpers ----------------------------------------------------------------------------------

    private static ReceiveVerdict Receive(PeerProtocol p, byte[] bytes, IPeerActions actions) =>
        p.OnReceive(PacketDecoder.Decode(bytes), actions);

    /// <summary>A fresh protocol whose version is detected from a plain STATUS of <paramref name="version"/> (0: none).</summary>
    private static PeerProtocol WithVersion(uint version, RecordingActions a)
    {
        var p = new PeerProtocol(PeerNode);
        if (version != 0)
        {
            Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.Rcom(RcomType.Status, version: version), a));
        }

        Assert.Equal(version, p.Version);
        a.Calls.Clear();
        return p;
    }

    /// <summary>A 3.2 peer in ESTABLISHED (version detected by a plain STATUS) with <paramref name="users"/> users.</summary>
    private static PeerProtocol Established(RecordingActions a, int users = 0)
    {
        var p = WithVersion(ProtocolVersion.V32, a);
        for (var i = 0; i < users; i++)
        {
            p.AddUser(a);
        }

        Assert.Equal(PeerState.Established, p.State);
        a.Calls.Clear();
        return p;
    }

    /// <summary>A 3.2 peer driven into <paramref name="state"/> through the public events only.</summary>
    private static PeerProtocol InState(PeerState state, RecordingActions a)
    {
        PeerProtocol p;
        switch (state)
        {
            case PeerState.Closed:
                p = new PeerProtocol(PeerNode);
                break;
            case PeerState.Established:
                p = Established(a);
                break;
            case PeerState.FinWait1:
                p = Established(a);
                Assert.True(p.StartShutdown(a));
                break;
            case PeerState.FinWait2:
                p = InState(PeerState.FinWait1, a);
                Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Ack(1), a));
                break;
            case PeerState.CloseWait:
                p = Established(a, users: 1);
                Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Fin(0), a));
                break;
            case PeerState.LastAck:
                p = Established(a);
                Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Fin(0), a));
                break;
            case PeerState.Closing:
                p = InState(PeerState.FinWait1, a);
                Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Fin(0), a));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(state), state, null);
        }

        Assert.Equal(state, p.State);
        a.Calls.Clear();
        a.StopTxAtSendFin.Clear();
        return p;
    }

    private static void ForceProperty(PeerProtocol p, string name, object value) =>
        typeof(PeerProtocol).GetProperty(name)!.SetValue(p, value);
}

/// <summary>
/// Records the effects <see cref="PeerProtocol"/> asks for, in order, as <c>SendAck(n)</c>,
/// <c>SendFin(seq)</c>, <c>Release(n)</c> and <c>ClearQueue()</c>. ACKs and FINs are also
/// encoded from <see cref="LocalNode"/> into <see cref="Outbox"/>, so that two protocols can be
/// wired to each other.
/// </summary>
internal sealed class RecordingActions(int localNode = PeerPackets.LocalNode) : IPeerActions
{
    public int LocalNode { get; } = localNode;

    public List<string> Calls { get; } = [];

    /// <summary>Wire messages produced by SendAck / SendFin, oldest first.</summary>
    public List<byte[]> Outbox { get; } = [];

    /// <summary>When set, the value of <see cref="PeerProtocol.StopTx"/> at each SendFin call.</summary>
    public PeerProtocol? Observed { get; set; }

    public List<bool> StopTxAtSendFin { get; } = [];

    public void SendAck(uint nextExpected)
    {
        Calls.Add($"SendAck({nextExpected})");
        Outbox.Add(PeerPackets.Ack(nextExpected, LocalNode));
    }

    public void PostAck(uint nextExpected)
    {
        Calls.Add($"PostAck({nextExpected})");
        Outbox.Add(PeerPackets.Ack(nextExpected, LocalNode));
    }

    public void SendFin(uint sequence)
    {
        Calls.Add($"SendFin({sequence})");
        if (Observed is not null)
        {
            StopTxAtSendFin.Add(Observed.StopTx);
        }

        Outbox.Add(PeerPackets.Fin(sequence, LocalNode));
    }

    public void Release(uint nextExpected) => Calls.Add($"Release({nextExpected})");

    public void ClearQueue() => Calls.Add("ClearQueue()");
}

/// <summary>Wire messages for the tests, built with <see cref="PacketWriter"/>.</summary>
internal static class PeerPackets
{
    public const int LocalNode = 1;
    public const int PeerNode = 2;
    public const uint Lockspace = 0x1234_5678;

    /// <summary>A plain DLM_MSG (LOOKUP_REPLY, no extra) with <c>m_lkid</c> = <paramref name="lockId"/>.</summary>
    public static byte[] Message(int node = PeerNode, uint version = ProtocolVersion.V32, uint lockId = 0)
    {
        var buffer = new byte[PacketWriter.MessageLength(0)];
        PacketWriter.WriteMessage(buffer, Lockspace, node, Body(lockId), default, version);
        return buffer;
    }

    /// <summary>A plain DLM_RCOM of <paramref name="type"/> with the smallest valid payload.</summary>
    public static byte[] Rcom(RcomType type, int node = PeerNode, uint version = ProtocolVersion.V32, int result = 0)
    {
        var payload = RcomPayload(type);
        var buffer = new byte[PacketWriter.RcomLength(payload.Length)];
        PacketWriter.WriteRcom(buffer, Lockspace, node, new RcomHeader(type, result, 1, 1, 0), payload, version);
        return buffer;
    }

    /// <summary>An OPTS-wrapped DLM_MSG; <paramref name="innerNode"/> defaults to the sender.</summary>
    public static byte[] WrappedMessage(uint sequence, int node = PeerNode, int? innerNode = null)
    {
        var inner = PacketWriter.MessageLength(0);
        var buffer = new byte[PacketWriter.OptsLength(inner)];
        PacketWriter.WriteMessage(buffer.AsSpan(WireLimits.OptsSize), Lockspace, innerNode ?? node, Body(sequence), default);
        PacketWriter.WriteOptsHeader(buffer, sequence, node, DlmCommand.Message, inner);
        return buffer;
    }

    /// <summary>An OPTS-wrapped DLM_RCOM of <paramref name="type"/>.</summary>
    public static byte[] WrappedRcom(uint sequence, RcomType type, int node = PeerNode)
    {
        var payload = RcomPayload(type);
        var buffer = new byte[PacketWriter.OptsLength(PacketWriter.RcomLength(payload.Length))];
        PacketWriter.WriteWrappedRcom(buffer, sequence, Lockspace, node, new RcomHeader(type, 0, 1, 1, 0), payload);
        return buffer;
    }

    /// <summary>A DLM_FIN in its OPTS envelope (40 bytes).</summary>
    public static byte[] Fin(uint sequence, int node = PeerNode)
    {
        var buffer = new byte[WireLimits.OptsSize + WireLimits.HeaderSize];
        PacketWriter.WriteWrappedFin(buffer, sequence, node);
        return buffer;
    }

    /// <summary>A bare DLM_FIN without its envelope (never valid on 3.2).</summary>
    public static byte[] PlainFin(int node = PeerNode)
    {
        var buffer = new byte[WireLimits.HeaderSize];
        new DlmHeader(ProtocolVersion.V32, 0, node, WireLimits.HeaderSize, DlmCommand.Fin).Write(buffer);
        return buffer;
    }

    /// <summary>A DLM_ACK of <paramref name="nextExpected"/> (16 bytes).</summary>
    public static byte[] Ack(uint nextExpected, int node = PeerNode)
    {
        var buffer = new byte[WireLimits.HeaderSize];
        PacketWriter.WriteAck(buffer, nextExpected, node);
        return buffer;
    }

    /// <summary>Overwrites the outer <c>h_version</c> (e.g. to make a 3.1 ACK or OPTS).</summary>
    public static byte[] WithOuterVersion(byte[] bytes, uint version)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, version);
        return bytes;
    }

    private static DlmMessage Body(uint lockId) => new() { Type = MessageType.LookupReply, LockId = lockId };

    private static byte[] RcomPayload(RcomType type) => type switch
    {
        RcomType.StatusReply => new byte[WireLimits.RcomConfigSize], // rcom_config, no slots
        RcomType.NamesReply => new byte[2],                           // one "end of chunk" record
        RcomType.Lock or RcomType.LockReply => new byte[WireLimits.RcomLockSize],
        _ => [],
    };
}
