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
