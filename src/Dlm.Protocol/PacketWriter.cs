using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace Dlm.Protocol;

/// <summary>
/// Encodes wire messages into spans or <see cref="IBufferWriter{T}"/>. Every header carries
/// version 3.2 unless told otherwise (spec §1.4: even plain messages to 3.1 peers). Each method
/// returns the bytes written. Hot path: no allocation.
/// </summary>
public static class PacketWriter
{
    /// <summary>Length of a DLM_MSG with <paramref name="extraLength"/> bytes of <c>m_extra</c>.</summary>
    public static int MessageLength(int extraLength) => WireLimits.MessageSize + extraLength;

    /// <summary>Length of a DLM_RCOM with <paramref name="payloadLength"/> bytes of <c>rc_buf</c>.</summary>
    public static int RcomLength(int payloadLength) => WireLimits.RcomSize + payloadLength;

    /// <summary>Length of an OPTS envelope (no options) around an inner message.</summary>
    public static int OptsLength(int innerLength) => WireLimits.OptsSize + innerLength;

    /// <summary>Writes a DLM_MSG (spec §1.5).</summary>
    public static int WriteMessage(Span<byte> destination, uint lockspaceId, int nodeId, in DlmMessage message,
        ReadOnlySpan<byte> extra, uint version = ProtocolVersion.V32)
    {
        var length = CheckedLength(MessageLength(extra.Length), WireLimits.MaxAppMessageLength);
        new DlmHeader(version, lockspaceId, nodeId, (ushort)length, DlmCommand.Message).Write(destination);
        message.Write(destination);
        extra.CopyTo(destination[WireLimits.MessageSize..]);
        return length;
    }

    /// <summary>Writes a DLM_RCOM whose payload was already placed or is copied from <paramref name="payload"/> (spec §1.7).</summary>
    public static int WriteRcom(Span<byte> destination, uint lockspaceId, int nodeId, in RcomHeader rcom,
        ReadOnlySpan<byte> payload, uint version = ProtocolVersion.V32)
    {
        var length = CheckedLength(RcomLength(payload.Length), WireLimits.MaxAppMessageLength);
        new DlmHeader(version, lockspaceId, nodeId, (ushort)length, DlmCommand.Rcom).Write(destination);
        rcom.Write(destination);
        payload.CopyTo(destination[WireLimits.RcomSize..]);
        return length;
    }

    /// <summary>
    /// Writes the 24-byte OPTS envelope header for an inner message of <paramref name="innerLength"/>
    /// bytes that the caller places at offset 24 (spec §1.8, §2.3: optlen 0).
    /// </summary>
    public static int WriteOptsHeader(Span<byte> destination, uint sequence, int nodeId, DlmCommand innerCommand, int innerLength)
    {
        var length = CheckedLength(OptsLength(innerLength), WireLimits.MaxMessageLength);
        new DlmHeader(ProtocolVersion.V32, sequence, nodeId, (ushort)length, DlmCommand.Opts).Write(destination);
        new OptsHeader(innerCommand, 0).Write(destination);
        return WireLimits.OptsSize;
    }

    /// <summary>Writes an OPTS-wrapped DLM_MSG.</summary>
    public static int WriteWrappedMessage(Span<byte> destination, uint sequence, uint lockspaceId, int nodeId,
        in DlmMessage message, ReadOnlySpan<byte> extra)
    {
        var inner = WriteMessage(destination[WireLimits.OptsSize..], lockspaceId, nodeId, message, extra);
        WriteOptsHeader(destination, sequence, nodeId, DlmCommand.Message, inner);
        return WireLimits.OptsSize + inner;
    }

    /// <summary>Writes an OPTS-wrapped DLM_RCOM.</summary>
    public static int WriteWrappedRcom(Span<byte> destination, uint sequence, uint lockspaceId, int nodeId,
        in RcomHeader rcom, ReadOnlySpan<byte> payload)
    {
        var inner = WriteRcom(destination[WireLimits.OptsSize..], lockspaceId, nodeId, rcom, payload);
        WriteOptsHeader(destination, sequence, nodeId, DlmCommand.Rcom, inner);
        return WireLimits.OptsSize + inner;
    }

    /// <summary>Writes a DLM_ACK: 16 bytes, <c>h_seq</c> = next expected sequence (spec §1.9).</summary>
    public static int WriteAck(Span<byte> destination, uint nextExpected, int nodeId)
    {
        new DlmHeader(ProtocolVersion.V32, nextExpected, nodeId, WireLimits.HeaderSize, DlmCommand.Ack).Write(destination);
        return WireLimits.HeaderSize;
    }

    /// <summary>Writes a DLM_FIN inside its OPTS envelope: 40 bytes (spec §1.9).</summary>
    public static int WriteWrappedFin(Span<byte> destination, uint sequence, int nodeId)
    {
        WriteOptsHeader(destination, sequence, nodeId, DlmCommand.Fin, WireLimits.HeaderSize);
        new DlmHeader(ProtocolVersion.V32, 0, nodeId, WireLimits.HeaderSize, DlmCommand.Fin).Write(destination[WireLimits.OptsSize..]);
        return WireLimits.OptsSize + WireLimits.HeaderSize;
    }

    /// <summary>Writes an OPTS-wrapped DLM_MSG into <paramref name="writer"/>.</summary>
    public static int WriteWrappedMessage(IBufferWriter<byte> writer, uint sequence, uint lockspaceId, int nodeId,
        in DlmMessage message, ReadOnlySpan<byte> extra)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var n = WriteWrappedMessage(writer.GetSpan(OptsLength(MessageLength(extra.Length))), sequence, lockspaceId, nodeId, message, extra);
        writer.Advance(n);
        return n;
    }

    /// <summary>Writes a plain DLM_MSG into <paramref name="writer"/>.</summary>
    public static int WriteMessage(IBufferWriter<byte> writer, uint lockspaceId, int nodeId, in DlmMessage message, ReadOnlySpan<byte> extra)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var n = WriteMessage(writer.GetSpan(MessageLength(extra.Length)), lockspaceId, nodeId, message, extra);
        writer.Advance(n);
        return n;
    }

    /// <summary>Writes a plain DLM_RCOM into <paramref name="writer"/>.</summary>
    public static int WriteRcom(IBufferWriter<byte> writer, uint lockspaceId, int nodeId, in RcomHeader rcom, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var n = WriteRcom(writer.GetSpan(RcomLength(payload.Length)), lockspaceId, nodeId, rcom, payload);
        writer.Advance(n);
        return n;
    }

    /// <summary>Writes a DLM_ACK into <paramref name="writer"/>.</summary>
    public static int WriteAck(IBufferWriter<byte> writer, uint nextExpected, int nodeId)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var n = WriteAck(writer.GetSpan(WireLimits.HeaderSize), nextExpected, nodeId);
        writer.Advance(n);
        return n;
    }

    private static int CheckedLength(int length, int max) => length <= max ? length : ThrowTooLong(length, max);

    [DoesNotReturn]
    private static int ThrowTooLong(int length, int max) =>
        throw new ArgumentOutOfRangeException(nameof(length), length, $"A DLM message is at most {max} bytes here (spec §1.10).");
}
