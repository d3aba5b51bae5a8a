using System.Buffers;
using System.Buffers.Binary;

namespace Dlm.Protocol.Tests;

public sealed partial class MalformedInputTests
{
    // ---------------------------------------------------------------- MessageTooShort

    [Theory]
    [InlineData(16)]
    [InlineData(48)]
    [InlineData(87)]
    public void TryDecode_PlainMessageShorterThan88_MessageTooShortAt12(int length)
    {
        var bytes = PlainMessage(MessageType.Request, 3);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(LengthAt), (ushort)length);

        AssertRejected(bytes, ProtocolErrorCode.MessageTooShort, LengthAt);
    }

    [Fact]
    public void TryDecode_WrappedMessageShorterThan88_InnerTooShortAtInnerOffset()
    {
        // Inside OPTS a short DLM_MSG is caught by the envelope checks of §2.4 (remaining ≥ 88)
        // before the body is looked at, so the code is InnerTooShort rather than MessageTooShort.
        var bytes = Vectors.WorkedExample[..(Inner + 87)];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(LengthAt), (ushort)bytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(Inner + LengthAt), 87);

        AssertRejected(bytes, ProtocolErrorCode.InnerTooShort, Inner);
    }

    // ---------------------------------------------------------------- UnknownMessageType

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(-1)]
    [InlineData(int.MaxValue)]
    public void TryDecode_MTypeNot1To14_UnknownMessageTypeAt16(int type)
    {
        var bytes = PlainMessage(MessageType.Request, 3);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(TypeAt), type);

        AssertRejected(bytes, ProtocolErrorCode.UnknownMessageType, TypeAt);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(0, 15)]
    [InlineData(8, 15)]
    public void TryDecode_WrappedMTypeNot1To14_UnknownMessageTypeAtInnerField(int optionsLength, int type)
    {
        var bytes = WithOptions(Vectors.WorkedExample, optionsLength);
        var inner = Inner + optionsLength;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(inner + TypeAt), type);

        AssertRejected(bytes, ProtocolErrorCode.UnknownMessageType, inner + TypeAt);
    }

    // ---------------------------------------------------------------- InvalidMode

    [Theory]
    [InlineData(68, 6)] // m_grmode
    [InlineData(68, -2)]
    [InlineData(72, 6)] // m_rqmode
    [InlineData(72, -2)]
    [InlineData(76, 6)] // m_bastmode
    [InlineData(76, -2)]
    [InlineData(72, int.MinValue)]
    [InlineData(76, 255)] // 8-bit IV is not IV in a 32-bit field
    public void TryDecode_MessageModeOutsideIVToEX_InvalidModeAtField(int field, int mode)
    {
        var bytes = PlainMessage(MessageType.Bast, 0);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(field), mode);

        AssertRejected(bytes, ProtocolErrorCode.InvalidMode, field);
    }

    [Fact]
    public void TryDecode_WrappedRqModeOutsideIVToEX_InvalidModeAtInnerField()
    {
        var bytes = Vectors.WorkedExample.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(Inner + 72), 6);

        AssertRejected(bytes, ProtocolErrorCode.InvalidMode, Inner + 72);
    }

    [Theory]
    [InlineData(36, 6)] // rl_rqmode
    [InlineData(36, 0xFE)] // -2 as int8
    [InlineData(36, 0x80)]
    [InlineData(37, 6)] // rl_grmode
    [InlineData(37, 0xFE)]
    [InlineData(37, 0x7F)]
    public void TryDecode_RcomLockModeOutsideIVToEX_InvalidModeAtField(int field, byte mode)
    {
        var bytes = PlainRcom(RcomType.Lock, RcomLockPayload(3, 0));
        bytes[Payload + field] = mode;

        AssertRejected(bytes, ProtocolErrorCode.InvalidMode, Payload + field);
    }

    // ---------------------------------------------------------------- NameTooLong

    [Theory]
    [InlineData(MessageType.Request)]
    [InlineData(MessageType.Lookup)]
    [InlineData(MessageType.Remove)]
    public void TryDecode_MessageName65Bytes_NameTooLongAt88(MessageType type)
    {
        var bytes = PlainMessage(type, WireLimits.MaxResourceNameLength + 1);

        AssertRejected(bytes, ProtocolErrorCode.NameTooLong, Extra);
    }

    [Theory]
    [InlineData(RcomType.Lookup)]
    [InlineData(RcomType.Names)]
    public void TryDecode_RcomName65Bytes_NameTooLongAt48(RcomType type)
    {
        var bytes = PlainRcom(type, Name(WireLimits.MaxResourceNameLength + 1));

        AssertRejected(bytes, ProtocolErrorCode.NameTooLong, Payload);
    }

    [Theory]
    [InlineData(65)]
    [InlineData(0xFFFF)]
    public void TryDecode_RcomLockNameLengthOver64_NameTooLongAtRlNamelen(int nameLength)
    {
        var bytes = PlainRcom(RcomType.Lock, RcomLockPayload(3, 0));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(Payload + 42), (ushort)nameLength);

        AssertRejected(bytes, ProtocolErrorCode.NameTooLong, Payload + 42);
    }

    // ---------------------------------------------------------------- InvalidValueBlockLength

    [Theory]
    [InlineData(MessageType.Convert, 7)]
    [InlineData(MessageType.Convert, 1)]
    [InlineData(MessageType.Unlock, 33)]
    [InlineData(MessageType.RequestReply, 4)]
    [InlineData(MessageType.ConvertReply, 31)]
    [InlineData(MessageType.Grant, 65)]
    public void TryDecode_MessageValueBlockNotMultipleOf8_InvalidValueBlockLengthAt88(MessageType type, int extraLength)
    {
        var bytes = PlainMessage(type, extraLength);

        AssertRejected(bytes, ProtocolErrorCode.InvalidValueBlockLength, Extra);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(1)]
    [InlineData(31)]
    public void TryDecode_RcomLockValueBlockNotMultipleOf8_InvalidValueBlockLengthAt156(int valueBlockLength)
    {
        var bytes = PlainRcom(RcomType.Lock, RcomLockPayload(3, valueBlockLength));

        AssertRejected(bytes, ProtocolErrorCode.InvalidValueBlockLength, Payload + WireLimits.RcomLockSize);
    }

    // ---------------------------------------------------------------- RcomTooShort

    [Theory]
    [InlineData(16)]
    [InlineData(47)]
    public void TryDecode_PlainRcomShorterThan48_RcomTooShortAt12(int length)
    {
        var bytes = PlainRcom(RcomType.LookupReply, []);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(LengthAt), (ushort)length);

        AssertRejected(bytes, ProtocolErrorCode.RcomTooShort, LengthAt);
    }

    // ---------------------------------------------------------------- UnknownRcomType

    [Theory]
    [InlineData(0)]
    [InlineData(9)]
    [InlineData(-1)]
    public void TryDecode_RcTypeNot1To8_UnknownRcomTypeAt16(int type)
    {
        var bytes = PlainRcom(RcomType.LookupReply, []);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(TypeAt), type);

        AssertRejected(bytes, ProtocolErrorCode.UnknownRcomType, TypeAt);
    }

    // ---------------------------------------------------------------- PayloadTooShort

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(15)]
    public void TryDecode_StatusPayloadShorterThan16_PayloadTooShortAt48(int payloadLength)
    {
        var bytes = PlainRcom(RcomType.Status, new byte[payloadLength]);

        AssertRejected(bytes, ProtocolErrorCode.PayloadTooShort, Payload);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    [InlineData(31)]
    public void TryDecode_StatusReplyPayloadShorterThan32_PayloadTooShortAt48(int payloadLength)
    {
        var bytes = PlainRcom(RcomType.StatusReply, new byte[payloadLength]);

        AssertRejected(bytes, ProtocolErrorCode.PayloadTooShort, Payload);
    }

    [Theory]
    [InlineData(RcomType.Lock, 0)]
    [InlineData(RcomType.Lock, 107)]
    [InlineData(RcomType.LockReply, 100)]
    public void TryDecode_RcomLockPayloadShorterThan108_PayloadTooShortAt48(RcomType type, int payloadLength)
    {
        var bytes = PlainRcom(type, RcomLockPayload(3, 0).AsSpan(0, payloadLength));

        AssertRejected(bytes, ProtocolErrorCode.PayloadTooShort, Payload);
    }

    // ---------------------------------------------------------------- TooManySlots

    [Theory]
    [InlineData(2, 3)]
    [InlineData(0, 1)]
    [InlineData(2, 0xFFFF)]
    public void TryDecode_StatusReplyNumSlotsExceedsPayload_TooManySlotsAtRfNumSlots(int slotsPresent, int slotsClaimed)
    {
        var bytes = PlainRcom(RcomType.StatusReply, StatusReplyPayload(slotsPresent, slotsPresent));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(Payload + 14), (ushort)slotsClaimed);

        AssertRejected(bytes, ProtocolErrorCode.TooManySlots, Payload + 14);
    }

    // ---------------------------------------------------------------- InvalidNamesRecord

    [Fact]
    public void TryDecode_NamesReplyNameLength65_InvalidNamesRecordAtThatRecord()
    {
        var payload = NamesPayload(endOfList: true, "one"u8.ToArray());
        BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(5), 65); // the terminator becomes a 65-byte record
        var bytes = PlainRcom(RcomType.NamesReply, payload);

        AssertRejected(bytes, ProtocolErrorCode.InvalidNamesRecord, Payload + 5);
    }

    [Theory]
    [InlineData(4)] // 2 bytes left after the prefix
    [InlineData(64)]
    public void TryDecode_NamesReplyNameLengthPastEnd_InvalidNamesRecordAtThatRecord(int nameLength)
    {
        // [00 03 "one"][namelen][2 bytes]: the second record claims more than is left.
        byte[] payload = [0x00, 0x03, (byte)'o', (byte)'n', (byte)'e', 0, 0, (byte)'x', (byte)'y'];
        BinaryPrimitives.WriteUInt16BigEndian(payload.AsSpan(5), (ushort)nameLength);
        var bytes = PlainRcom(RcomType.NamesReply, payload);

        AssertRejected(bytes, ProtocolErrorCode.InvalidNamesRecord, Payload + 5);
    }

    [Theory]
    [InlineData(new byte[0], 0)]
    [InlineData(new byte[] { 0x00 }, 0)]
    [InlineData(new byte[] { 0x00, 0x03, (byte)'o', (byte)'n', (byte)'e' }, 5)]
    [InlineData(new byte[] { 0x00, 0x03, (byte)'o', (byte)'n', (byte)'e', 0xFF }, 5)]
    public void TryDecode_NamesReplyWithoutTerminator_InvalidNamesRecordAtEnd(byte[] payload, int recordOffset)
    {
        var bytes = PlainRcom(RcomType.NamesReply, payload);

        AssertRejected(bytes, ProtocolErrorCode.InvalidNamesRecord, Payload + recordOffset);
    }
}
