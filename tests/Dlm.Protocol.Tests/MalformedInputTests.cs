using System.Buffers;
using System.Buffers.Binary;

namespace Dlm.Protocol.Tests;

/// <summary>
/// One test per malformed-input rule of <see cref="PacketDecoder"/> (spec §1, §2.4, §4.20, §9.1):
/// each builds a valid message with <see cref="PacketWriter"/>, corrupts one field and asserts the
/// exact <see cref="ProtocolErrorCode"/> and byte offset. Positive tests pin the accepted boundaries.
/// </summary>
public sealed partial class MalformedInputTests
{
    private const uint Lockspace = Vectors.MyLockspace;
    private const int Node = 1;
    private const uint Sequence = 7;

    // Offsets used below, from the start of the (outer) message.
    private const int VersionAt = 0;
    private const int NodeIdAt = 8;
    private const int LengthAt = DlmHeader.LengthOffset;
    private const int CommandAt = 14;
    private const int TypeAt = 16;
    private const int NextCommandAt = 16;
    private const int OptionsLengthAt = 18;
    private const int Inner = WireLimits.OptsSize;
    private const int Payload = WireLimits.RcomSize;
    private const int Extra = WireLimits.MessageSize;

    // ---------------------------------------------------------------- Truncated

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(12)]
    [InlineData(15)]
    public void TryDecode_BufferShorterThanHeader_TruncatedAtBufferEnd(int available)
    {
        AssertRejected(Vectors.WorkedExample[..available], ProtocolErrorCode.Truncated, available);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(24)]
    [InlineData(114)]
    public void TryDecode_BufferShorterThanHLength_TruncatedAtBufferEnd(int available)
    {
        // The worked example says h_length 115.
        AssertRejected(Vectors.WorkedExample[..available], ProtocolErrorCode.Truncated, available);
    }

    // ---------------------------------------------------------------- LengthOutOfRange

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(4097)]
    [InlineData(0xFFFF)]
    public void TryDecode_HLengthOutside16To4096_LengthOutOfRangeAt12(int length)
    {
        // Plenty of bytes, so only the range check can fire.
        var bytes = new byte[4200];
        Vectors.WorkedExampleAck.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(LengthAt), (ushort)length);

        var error = AssertRejected(bytes, ProtocolErrorCode.LengthOutOfRange, LengthAt);
        Assert.True(error.IsFatalToConnection);
    }

    // ---------------------------------------------------------------- UnsupportedVersion

    [Theory]
    [InlineData(0u)]
    [InlineData(0x0003_0000u)]
    [InlineData(0x0003_0003u)]
    [InlineData(0x0002_0002u)]
    [InlineData(0x0200_0300u)] // 3.2 written big-endian
    public void TryDecode_OuterVersionNot31Or32_UnsupportedVersionAt0(uint version)
    {
        var bytes = PlainMessage(MessageType.Request, 3);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(VersionAt), version);

        var error = AssertRejected(bytes, ProtocolErrorCode.UnsupportedVersion, VersionAt);
        Assert.False(error.IsFatalToConnection);
    }

    [Theory]
    [InlineData(0, 0x0003_0003u)]
    [InlineData(0, 0u)]
    [InlineData(8, 0x0004_0002u)]
    public void TryDecode_InnerVersionNot31Or32_UnsupportedVersionAtInnerHeader(int optionsLength, uint version)
    {
        var bytes = WithOptions(Vectors.WorkedExample, optionsLength);
        var inner = Inner + optionsLength;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(inner), version);

        AssertRejected(bytes, ProtocolErrorCode.UnsupportedVersion, inner);
    }

    // ---------------------------------------------------------------- UnknownCommand

    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    [InlineData(0xFF)]
    public void TryDecode_HCmdNot1To5_UnknownCommandAt14(byte command)
    {
        var bytes = Vectors.WorkedExampleAck.ToArray();
        bytes[CommandAt] = command;

        AssertRejected(bytes, ProtocolErrorCode.UnknownCommand, CommandAt);
    }

    // ---------------------------------------------------------------- InvalidNodeId

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void TryDecode_HNodeIdNotPositive_InvalidNodeIdAt8(int nodeId)
    {
        var bytes = PlainMessage(MessageType.Request, 3);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(NodeIdAt), nodeId);

        AssertRejected(bytes, ProtocolErrorCode.InvalidNodeId, NodeIdAt);
    }


    // ---------------------------------------------------------------- helpers

    private static ProtocolError AssertRejected(byte[] bytes, ProtocolErrorCode code, int offset)
    {
        var accepted = true;
        ProtocolError error = default;
        var thrown = Record.Exception(() => { accepted = PacketDecoder.TryDecode(bytes, out _, out error); });

        Assert.Null(thrown);
        Assert.False(accepted, $"expected {code} at {offset}, but the message was accepted");
        Assert.Equal(new ProtocolError(code, offset), error);
        Assert.Equal(error, RejectionInStages(bytes).Error);
        return error;
    }

    // The two stages TryDecode is made of: the frame's error, or the body's after a frame that passed.
    private static (bool ByFrame, ProtocolError Error) RejectionInStages(byte[] bytes)
    {
        if (!PacketDecoder.TryDecodeFrame(bytes, out var packet, out var error))
        {
            return (true, error);
        }

        Assert.False(PacketDecoder.TryValidateBody(packet, out error), "TryDecode rejected what the two stages accept");
        return (false, error);
    }

    private static Packet AssertAccepted(byte[] bytes)
    {
        Assert.True(PacketDecoder.TryDecode(bytes, out var packet, out var error), error.ToString());
        Assert.Equal(ProtocolErrorCode.None, error.Code);
        Assert.Equal(packet.Header.Length, packet.Bytes.Length);
        return packet;
    }

    private static byte[] Name(int length)
    {
        var name = new byte[length];
        for (var i = 0; i < length; i++)
        {
            name[i] = (byte)('a' + (i % 26));
        }

        return name;
    }

    /// <summary>A plain DLM_MSG of <paramref name="type"/> with <paramref name="extraLength"/> bytes of m_extra.</summary>
    private static byte[] PlainMessage(MessageType type, int extraLength)
    {
        var bytes = new byte[PacketWriter.MessageLength(extraLength)];
        var message = Vectors.WorkedExampleMessage with { Type = type, GrantedMode = LockMode.ProtectedRead, BastMode = LockMode.Exclusive };
        PacketWriter.WriteMessage(bytes, Lockspace, Node, message, Name(extraLength));
        return bytes;
    }

    private static byte[] PlainRcom(RcomType type, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[PacketWriter.RcomLength(payload.Length)];
        PacketWriter.WriteRcom(bytes, Lockspace, Node, new RcomHeader(type, 0, 42, 3, 0), payload);
        return bytes;
    }

    private static byte[] WrappedRcom(RcomType type, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[PacketWriter.OptsLength(PacketWriter.RcomLength(payload.Length))];
        PacketWriter.WriteWrappedRcom(bytes, Sequence, Lockspace, Node, new RcomHeader(type, 0, 42, 3, 0), payload);
        return bytes;
    }

    private static byte[] WrappedFin()
    {
        var bytes = new byte[Inner + WireLimits.HeaderSize];
        PacketWriter.WriteWrappedFin(bytes, Sequence, Node);
        return bytes;
    }

    /// <summary>An rcom_lock (108 bytes + LVB) for a resource of <paramref name="nameLength"/> bytes, PR granted, IV requested.</summary>
    private static byte[] RcomLockPayload(int nameLength, int valueBlockLength)
    {
        var payload = new byte[WireLimits.RcomLockSize + valueBlockLength];
        var rl = new RcomLock
        {
            OwnerPid = 1234,
            LockId = 9,
            GrantedMode = LockMode.ProtectedRead,
            RequestedMode = LockMode.Invalid,
            Status = QueueStatus.Granted,
            Asts = AstFlags.Completion,
        };
        rl.Write(payload, Name(nameLength), new byte[valueBlockLength]);
        return payload;
    }

    /// <summary>rcom_config with room for <paramref name="slotsPresent"/> slots of which <paramref name="slotCount"/> are announced.</summary>
    private static byte[] StatusReplyPayload(int slotsPresent, int slotCount)
    {
        var payload = new byte[WireLimits.RcomConfigSize + (slotsPresent * WireLimits.RcomSlotSize)];
        new RcomConfig(32, 0, 0, 1, (ushort)slotCount, 4).Write(payload);
        for (var i = 0; i < slotsPresent; i++)
        {
            new RcomSlot(i + 1, (ushort)(i + 1)).Write(payload.AsSpan(WireLimits.RcomConfigSize + (i * WireLimits.RcomSlotSize)));
        }

        return payload;
    }

    /// <summary>A full-capacity NAMES_REPLY payload (4024 bytes) holding <paramref name="names"/>.</summary>
    private static byte[] NamesPayload(bool endOfList, params byte[][] names)
    {
        var payload = new byte[WireLimits.NamesReplyCapacity];
        var writer = new NamesWriter(payload);
        foreach (var name in names)
        {
            Assert.True(writer.TryAdd(name));
        }

        writer.Complete(endOfList);
        return payload;
    }

    /// <summary>
    /// Copies an OPTS envelope inserting <paramref name="optionsLength"/> bytes of TLV options
    /// (type 1, length 0, padded) before the inner message, and fixes o_optlen and h_length.
    /// </summary>
    private static byte[] WithOptions(byte[] wrapped, int optionsLength)
    {
        var bytes = new byte[wrapped.Length + optionsLength];
        wrapped.AsSpan(0, Inner).CopyTo(bytes);
        wrapped.AsSpan(Inner).CopyTo(bytes.AsSpan(Inner + optionsLength));
        for (var at = Inner; at + 8 <= Inner + optionsLength; at += 8)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at), 1); // t_type
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(at + 2), 0); // t_length
        }

        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(OptionsLengthAt), (ushort)optionsLength);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(LengthAt), (ushort)bytes.Length);
        return bytes;
    }
}
