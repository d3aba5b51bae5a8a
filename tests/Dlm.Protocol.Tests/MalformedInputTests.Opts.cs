using System.Buffers;
using System.Buffers.Binary;

namespace Dlm.Protocol.Tests;

public sealed partial class MalformedInputTests
{
    // ---------------------------------------------------------------- InvalidOptsLength

    [Theory]
    [InlineData(16)]
    [InlineData(20)]
    [InlineData(23)]
    public void TryDecode_OptsShorterThan24_InvalidOptsLengthAt12(int length)
    {
        var bytes = Vectors.WorkedExample.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(LengthAt), (ushort)length);

        AssertRejected(bytes, ProtocolErrorCode.InvalidOptsLength, LengthAt);
    }

    [Theory]
    [InlineData(92)] // 115 − 24 = 91 bytes follow the envelope header
    [InlineData(0x0100)]
    [InlineData(0xFFFF)]
    public void TryDecode_OptsOptLenPastEnd_InvalidOptsLengthAt18(int optionsLength)
    {
        var bytes = Vectors.WorkedExample.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(OptionsLengthAt), (ushort)optionsLength);

        AssertRejected(bytes, ProtocolErrorCode.InvalidOptsLength, OptionsLengthAt);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void TryDecode_InnerHNodeIdNotPositive_InvalidNodeIdAtInnerHeader(int nodeId)
    {
        var bytes = Vectors.WorkedExample.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(Inner + NodeIdAt), nodeId);

        AssertRejected(bytes, ProtocolErrorCode.InvalidNodeId, Inner + NodeIdAt);
    }

    // ---------------------------------------------------------------- which stage rejects

    // spec §2.4: midcomms checks the envelope's lengths and commands; a failure there consumes no
    // sequence number. The contents are the lock layer's to reject, after the number is consumed.
    [Theory]
    [InlineData(Inner + TypeAt, 15, ProtocolErrorCode.UnknownMessageType)]
    [InlineData(Inner + 72, 6, ProtocolErrorCode.InvalidMode)]
    [InlineData(Inner + NodeIdAt, 0, ProtocolErrorCode.InvalidNodeId)]
    [InlineData(Inner + VersionAt, 0x00040000, ProtocolErrorCode.UnsupportedVersion)]
    public void TryDecodeFrame_WrappedContentsInvalid_FramePassesAndBodyIsRejected(int field, int value, ProtocolErrorCode code)
    {
        var bytes = Vectors.WorkedExample.ToArray();
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(field), value);

        Assert.True(PacketDecoder.TryDecodeFrame(bytes, out var packet, out _));
        Assert.Equal(SequenceOf(bytes), packet.Header.Sequence);
        Assert.Equal((false, new ProtocolError(code, field)), RejectionInStages(bytes));
    }

    [Fact]
    public void TryDecodeFrame_WrappedNameOver64_FramePassesAndBodyIsRejected()
    {
        var bytes = new byte[PacketWriter.OptsLength(PacketWriter.MessageLength(65))];
        var inner = PacketWriter.WriteMessage(bytes.AsSpan(Inner), Lockspace, Node, new DlmMessage { Type = MessageType.Request }, Name(65));
        PacketWriter.WriteOptsHeader(bytes, 3, Node, DlmCommand.Message, inner);

        Assert.Equal((false, new ProtocolError(ProtocolErrorCode.NameTooLong, Inner + Extra)), RejectionInStages(bytes));
    }

    [Theory]
    [InlineData(OptionsLengthAt, 200, ProtocolErrorCode.InvalidOptsLength)]
    [InlineData(NextCommandAt, 4, ProtocolErrorCode.InvalidNextCommand)]
    [InlineData(Inner + CommandAt, 2, ProtocolErrorCode.InnerCommandMismatch)]
    [InlineData(Inner + LengthAt, 60, ProtocolErrorCode.InnerTooShort)]
    public void TryDecodeFrame_EnvelopeInvalid_RejectedByTheFrame(int field, int value, ProtocolErrorCode code)
    {
        var bytes = Vectors.WorkedExample.ToArray();
        if (field is OptionsLengthAt or Inner + LengthAt)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(field), (ushort)value);
        }
        else
        {
            bytes[field] = (byte)value;
        }

        Assert.Equal((true, new ProtocolError(code, field)), RejectionInStages(bytes));
    }

    private static uint SequenceOf(byte[] wrapped) => DlmHeader.Read(wrapped).Sequence;

    // ---------------------------------------------------------------- InvalidNextCommand

    [Theory]
    [InlineData(0)]
    [InlineData(3)] // nested OPTS
    [InlineData(4)] // ACK
    [InlineData(6)]
    [InlineData(0xFF)]
    public void TryDecode_OptsNextCmdNotMsgRcomFin_InvalidNextCommandAt16(byte nextCommand)
    {
        var bytes = Vectors.WorkedExample.ToArray();
        bytes[NextCommandAt] = nextCommand;

        AssertRejected(bytes, ProtocolErrorCode.InvalidNextCommand, NextCommandAt);
    }

    // ---------------------------------------------------------------- InnerTooShort

    [Fact]
    public void TryDecode_OptsRemainingBelowMessageMinimum_InnerTooShortAtInnerOffset()
    {
        // A wrapped 48-byte RCOM announced as MSG: 48 bytes remain, a DLM_MSG needs 88.
        var bytes = WrappedRcom(RcomType.LookupReply, []);
        bytes[NextCommandAt] = (byte)DlmCommand.Message;

        AssertRejected(bytes, ProtocolErrorCode.InnerTooShort, Inner);
    }

    [Fact]
    public void TryDecode_OptsRemainingBelowFinMinimum_InnerTooShortAtInnerOffset()
    {
        var bytes = WrappedFin()[..(Inner + 15)];
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(LengthAt), (ushort)bytes.Length);

        AssertRejected(bytes, ProtocolErrorCode.InnerTooShort, Inner);
    }

    [Fact]
    public void TryDecode_OptsOptLenLeavesNothing_InnerTooShortAtEnvelopeEnd()
    {
        var bytes = Vectors.WorkedExample.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(OptionsLengthAt), 91);

        AssertRejected(bytes, ProtocolErrorCode.InnerTooShort, bytes.Length);
    }

    [Theory]
    [InlineData(DlmCommand.Message, 87)]
    [InlineData(DlmCommand.Message, 16)]
    [InlineData(DlmCommand.Rcom, 47)]
    [InlineData(DlmCommand.Fin, 15)]
    [InlineData(DlmCommand.Fin, 0)]
    public void TryDecode_InnerHLengthBelowMinimum_InnerTooShortAtInnerHLength(DlmCommand command, int innerLength)
    {
        var bytes = command switch
        {
            DlmCommand.Message => Vectors.WorkedExample.ToArray(),
            DlmCommand.Rcom => WrappedRcom(RcomType.LookupReply, []),
            _ => WrappedFin(),
        };
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(Inner + LengthAt), (ushort)innerLength);

        AssertRejected(bytes, ProtocolErrorCode.InnerTooShort, Inner + LengthAt);
    }

    // ---------------------------------------------------------------- InnerCommandMismatch

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(0)]
    public void TryDecode_InnerHCmdDiffersFromNextCmd_InnerCommandMismatchAtInnerHCmd(byte innerCommand)
    {
        var bytes = Vectors.WorkedExample.ToArray();
        bytes[Inner + CommandAt] = innerCommand;

        AssertRejected(bytes, ProtocolErrorCode.InnerCommandMismatch, Inner + CommandAt);
    }

    // ---------------------------------------------------------------- InnerLengthMismatch

    [Theory]
    [InlineData(88)] // shorter than the 91 bytes that remain
    [InlineData(90)]
    [InlineData(92)] // longer
    [InlineData(4072)]
    public void TryDecode_InnerHLengthNotFillingEnvelope_InnerLengthMismatchAtInnerHLength(int innerLength)
    {
        var bytes = Vectors.WorkedExample.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(Inner + LengthAt), (ushort)innerLength);

        AssertRejected(bytes, ProtocolErrorCode.InnerLengthMismatch, Inner + LengthAt);
    }

    [Fact]
    public void TryDecode_OuterHLengthLongerThanInner_InnerLengthMismatchAtInnerHLength()
    {
        var bytes = new byte[Vectors.WorkedExample.Length + 8];
        Vectors.WorkedExample.CopyTo(bytes, 0);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(LengthAt), (ushort)bytes.Length);

        AssertRejected(bytes, ProtocolErrorCode.InnerLengthMismatch, Inner + LengthAt);
    }
}
