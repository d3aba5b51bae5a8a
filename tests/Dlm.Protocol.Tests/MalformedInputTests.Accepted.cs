using System.Buffers;
using System.Buffers.Binary;

namespace Dlm.Protocol.Tests;

public sealed partial class MalformedInputTests
{
    // ---------------------------------------------------------------- accepted boundaries

    [Fact]
    public void TryDecode_AckOf16Bytes_Accepted()
    {
        var p = AssertAccepted(Vectors.WorkedExampleAck);

        Assert.Equal(DlmCommand.Ack, p.Kind);
        Assert.Equal(WireLimits.HeaderSize, p.Bytes.Length);
    }

    [Fact]
    public void TryDecode_BytesAfterHLength_IgnoredAndExcludedFromPacket()
    {
        var bytes = new byte[Vectors.WorkedExample.Length + 40];
        Vectors.WorkedExample.CopyTo(bytes, 0);
        bytes.AsSpan(Vectors.WorkedExample.Length).Fill(0xFF);

        var p = AssertAccepted(bytes);

        Assert.Equal(Vectors.WorkedExample, p.Bytes.ToArray());
        Assert.Equal("foo"u8.ToArray(), p.Extra.ToArray());
    }

    [Theory]
    [InlineData(MessageType.Request)]
    [InlineData(MessageType.Lookup)]
    [InlineData(MessageType.Remove)]
    public void TryDecode_MessageName64Bytes_Accepted(MessageType type)
    {
        var p = AssertAccepted(PlainMessage(type, WireLimits.MaxResourceNameLength));

        Assert.Equal(type, p.Message.Type);
        Assert.Equal(WireLimits.MaxResourceNameLength, p.Extra.Length);
    }

    [Fact]
    public void TryDecode_RcomLookupName64Bytes_Accepted()
    {
        var p = AssertAccepted(WrappedRcom(RcomType.Lookup, Name(WireLimits.MaxResourceNameLength)));

        Assert.Equal(RcomType.Lookup, p.Rcom.Type);
        Assert.Equal(WireLimits.MaxResourceNameLength, p.Extra.Length);
    }

    [Theory]
    [InlineData(MessageType.Convert, 0)]
    [InlineData(MessageType.Convert, 32)]
    [InlineData(MessageType.Convert, 8)]
    [InlineData(MessageType.Grant, 64)]
    [InlineData(MessageType.RequestReply, 0)]
    public void TryDecode_MessageValueBlockMultipleOf8_Accepted(MessageType type, int extraLength)
    {
        var p = AssertAccepted(PlainMessage(type, extraLength));

        Assert.Equal(type, p.Message.Type);
        Assert.Equal(extraLength, p.Extra.Length);
    }

    [Theory]
    [InlineData(RcomType.Lock, 0)]
    [InlineData(RcomType.LockReply, 0)]
    [InlineData(RcomType.Lock, 32)]
    public void TryDecode_RcomLockWithOrWithoutValueBlock_Accepted(RcomType type, int valueBlockLength)
    {
        var p = AssertAccepted(WrappedRcom(type, RcomLockPayload(WireLimits.MaxResourceNameLength, valueBlockLength)));

        Assert.Equal(type, p.Rcom.Type);
        Assert.Equal(WireLimits.RcomLockSize + valueBlockLength, p.Extra.Length);
        Assert.Equal(valueBlockLength, RcomLock.ValueBlockOf(p.Extra).Length);
        Assert.Equal(Name(WireLimits.MaxResourceNameLength), RcomLock.NameOf(p.Extra).ToArray());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(16)]
    public void TryDecode_StatusEmptyOr16BytePayload_Accepted(int payloadLength)
    {
        var p = AssertAccepted(PlainRcom(RcomType.Status, new byte[payloadLength]));

        Assert.Equal(payloadLength, p.Extra.Length);
    }

    [Fact]
    public void TryDecode_StatusReplyLongerThanItsSlots_Accepted()
    {
        // spec §9.1.5: sized for 3 slots, rf_num_slots 0.
        var p = AssertAccepted(PlainRcom(RcomType.StatusReply, StatusReplyPayload(3, 0)));

        Assert.Equal(0, RcomConfig.Read(p.Extra).SlotCount);
    }

    [Fact]
    public void TryDecode_StatusReplyWithMaximumSlots_Accepted()
    {
        var p = AssertAccepted(PlainRcom(RcomType.StatusReply, StatusReplyPayload(WireLimits.MaxSlots, WireLimits.MaxSlots)));

        Assert.Equal(WireLimits.MaxSlots, RcomConfig.Read(p.Extra).SlotCount);
        Assert.Equal(new RcomSlot(WireLimits.MaxSlots, WireLimits.MaxSlots), RcomConfig.ReadSlot(p.Extra, WireLimits.MaxSlots - 1));
    }

    [Fact]
    public void TryDecode_HLength4096WrappedNamesReplyAtFullCapacity_Accepted()
    {
        var bytes = WrappedRcom(RcomType.NamesReply, NamesPayload(endOfList: false, Name(64), Name(1)));
        Assert.Equal(WireLimits.MaxMessageLength, bytes.Length);

        var p = AssertAccepted(bytes);

        Assert.Equal(WireLimits.MaxMessageLength, p.Header.Length);
        Assert.Equal(WireLimits.MaxAppMessageLength, p.Inner.Length);
        Assert.Equal(WireLimits.MaxAppMessageLength, p.InnerBytes.Length);
        Assert.Equal(WireLimits.NamesReplyCapacity, p.Extra.Length);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TryDecode_NamesReplyEndingInEitherMarker_AcceptedAndWalksToMarker(bool endOfList)
    {
        var p = AssertAccepted(PlainRcom(RcomType.NamesReply, NamesPayload(endOfList, "one"u8.ToArray(), Name(64))));

        var reader = new NamesReader(p.Extra);
        Assert.Equal(NamesRecord.Name, reader.Next(out var first));
        Assert.Equal("one"u8.ToArray(), first.ToArray());
        Assert.Equal(NamesRecord.Name, reader.Next(out var second));
        Assert.Equal(64, second.Length);
        Assert.Equal(endOfList ? NamesRecord.EndOfList : NamesRecord.EndOfChunk, reader.Next(out _));
    }

    [Fact]
    public void TryDecode_OptsWithOneEightByteOption_SkipsOptionAndDecodesInner()
    {
        var bytes = WithOptions(Vectors.WorkedExample, 8);

        var p = AssertAccepted(bytes);

        Assert.True(p.IsWrapped);
        Assert.Equal(8, p.Opts.OptionsLength);
        Assert.Equal(8, p.Options.Length);
        Assert.Equal(bytes.AsSpan(Inner, 8).ToArray(), p.Options.ToArray());
        Assert.Equal(Vectors.WorkedExample.Length - Inner, p.InnerBytes.Length);
        Assert.Equal(p.Inner.Length, p.InnerBytes.Length);
        Assert.Equal(Vectors.WorkedExampleMessage, p.Message);
        Assert.Equal("foo"u8.ToArray(), p.Extra.ToArray());
    }

    [Fact]
    public void TryDecode_WrappedFin_Accepted()
    {
        var p = AssertAccepted(WrappedFin());

        Assert.Equal(DlmCommand.Fin, p.Kind);
        Assert.Equal(Inner + WireLimits.HeaderSize, p.Bytes.Length);
    }

    [Fact]
    public void TryDecode_Version31PlainMessage_Accepted()
    {
        var bytes = PlainMessage(MessageType.Request, 3);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(VersionAt), ProtocolVersion.V31);

        Assert.Equal(ProtocolVersion.V31, AssertAccepted(bytes).Header.Version);
    }

    // ---------------------------------------------------------------- sequence form, FrameReader, Decode

    [Theory]
    [InlineData(5)]
    [InlineData(13)]
    [InlineData(60)]
    public void TryDecode_MultiSegmentSequence_SameErrorAsSpan(int cut)
    {
        var bytes = Vectors.WorkedExample.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(Inner + 72), 6);
        var sequence = Segments.Split(bytes, cut);
        Assert.False(sequence.IsSingleSegment);
        var scratch = new byte[WireLimits.MaxMessageLength];

        Assert.False(PacketDecoder.TryDecode(sequence, scratch, out _, out var error));
        Assert.Equal(new ProtocolError(ProtocolErrorCode.InvalidMode, Inner + 72), error);
    }

    [Theory]
    [InlineData(15, 0)]
    [InlineData(4097, 0)]
    [InlineData(15, 13)] // h_length split across segments
    [InlineData(4097, 13)]
    [InlineData(4097, 3)]
    public void TryReadFrame_HLengthOutside16To4096_InvalidDataAndBufferUntouched(int length, int cut)
    {
        var bytes = Vectors.WorkedExample.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(LengthAt), (ushort)length);
        var buffer = cut == 0 ? new ReadOnlySequence<byte>(bytes) : Segments.Split(bytes, cut);
        var original = buffer;

        Assert.Equal(OperationStatus.InvalidData, FrameReader.TryReadFrame(ref buffer, out var frame));

        Assert.Equal(original.Start, buffer.Start);
        Assert.Equal(original.End, buffer.End);
        Assert.Equal(original.Length, buffer.Length);
        Assert.True(frame.IsEmpty);
        Assert.Equal(OperationStatus.InvalidData, FrameReader.TryReadFrame(bytes, out var spanLength));
        Assert.Equal(0, spanLength);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(4096)]
    public void TryReadFrame_HLengthAtRangeEnds_Done(int length)
    {
        var bytes = new byte[length + 5];
        Vectors.WorkedExampleAck.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(LengthAt), (ushort)length);
        var buffer = Segments.Split(bytes, 7, 2000);

        Assert.Equal(OperationStatus.Done, FrameReader.TryReadFrame(ref buffer, out var frame));

        Assert.Equal(length, frame.Length);
        Assert.Equal(5, buffer.Length);
    }

    [Fact]
    public void Decode_MalformedInput_ThrowsDlmProtocolExceptionCarryingTheError()
    {
        var bytes = Vectors.WorkedExample.ToArray();
        bytes[NextCommandAt] = 4;

        var exception = Assert.Throws<DlmProtocolException>(() => { _ = PacketDecoder.Decode(bytes); });

        Assert.Equal(new ProtocolError(ProtocolErrorCode.InvalidNextCommand, NextCommandAt), exception.Error);
        Assert.IsAssignableFrom<DlmException>(exception);
        Assert.Contains("offset 16", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Decode_TruncatedInput_ThrowsDlmProtocolExceptionCarryingTheError()
    {
        var exception = Assert.Throws<DlmProtocolException>(() => { _ = PacketDecoder.Decode(Vectors.WorkedExample.AsSpan(0, 100)); });

        Assert.Equal(new ProtocolError(ProtocolErrorCode.Truncated, 100), exception.Error);
    }

    [Fact]
    public void ProtocolErrorCode_EveryValueExceptNone_HasATestAbove()
    {
        // Guards this file: a new error code needs a malformed-input test here.
        ProtocolErrorCode[] covered =
        [
            ProtocolErrorCode.Truncated, ProtocolErrorCode.LengthOutOfRange, ProtocolErrorCode.UnsupportedVersion,
            ProtocolErrorCode.UnknownCommand, ProtocolErrorCode.InvalidNodeId, ProtocolErrorCode.MessageTooShort,
            ProtocolErrorCode.UnknownMessageType, ProtocolErrorCode.InvalidMode, ProtocolErrorCode.NameTooLong,
            ProtocolErrorCode.InvalidValueBlockLength, ProtocolErrorCode.RcomTooShort, ProtocolErrorCode.UnknownRcomType,
            ProtocolErrorCode.PayloadTooShort, ProtocolErrorCode.TooManySlots, ProtocolErrorCode.InvalidNamesRecord,
            ProtocolErrorCode.InvalidOptsLength, ProtocolErrorCode.InvalidNextCommand, ProtocolErrorCode.InnerTooShort,
            ProtocolErrorCode.InnerCommandMismatch, ProtocolErrorCode.InnerLengthMismatch,
        ];

        Assert.Equal(Enum.GetValues<ProtocolErrorCode>().Where(c => c != ProtocolErrorCode.None).Order(), covered.Order());
    }
}
