using System.Buffers;
using System.Buffers.Binary;

namespace Dlm.Protocol;

/// <summary>
/// Decodes and validates one wire message (spec §1, §2.4, §4.20). Never throws on bad input,
/// never allocates, never logs: malformed input yields a <see cref="ProtocolError"/> with the
/// offset of the offending field. Hot path.
/// </summary>
public static class PacketDecoder
{
    /// <summary>
    /// Decodes the message at the start of <paramref name="source"/>; exactly <c>h_length</c>
    /// bytes are used (see <see cref="Packet.Bytes"/>), anything after them is ignored.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> source, out Packet packet, out ProtocolError error)
    {
        packet = default;
        if (source.Length < WireLimits.HeaderSize)
        {
            error = new(ProtocolErrorCode.Truncated, source.Length);
            return false;
        }

        var header = DlmHeader.Read(source);
        if (header.Length is < WireLimits.HeaderSize or > WireLimits.MaxMessageLength)
        {
            error = new(ProtocolErrorCode.LengthOutOfRange, DlmHeader.LengthOffset);
            return false;
        }

        if (source.Length < header.Length)
        {
            error = new(ProtocolErrorCode.Truncated, source.Length);
            return false;
        }

        var bytes = source[..header.Length];
        if (!ProtocolVersion.IsSupported(header.Version))
        {
            error = new(ProtocolErrorCode.UnsupportedVersion, 0);
            return false;
        }

        if (header.NodeId <= 0)
        {
            error = new(ProtocolErrorCode.InvalidNodeId, 8);
            return false;
        }

        switch (header.Command)
        {
            case DlmCommand.Opts:
                return TryDecodeOpts(bytes, header, out packet, out error);
            case DlmCommand.Message:
            case DlmCommand.Rcom:
            case DlmCommand.Ack:
            case DlmCommand.Fin:
                if (!TryValidateBody(bytes, header.Command, 0, out error))
                {
                    return false;
                }

                packet = new Packet(bytes, header, default, 0, header);
                return true;
            default:
                error = new(ProtocolErrorCode.UnknownCommand, 14);
                return false;
        }
    }

    /// <summary>
    /// Decodes one message held in a sequence. A single-segment frame is decoded in place; a
    /// frame split across segments is first copied into <paramref name="scratch"/>
    /// (at least <see cref="WireLimits.MaxMessageLength"/> bytes, e.g. on the stack).
    /// </summary>
    public static bool TryDecode(in ReadOnlySequence<byte> frame, Span<byte> scratch, out Packet packet, out ProtocolError error)
    {
        if (frame.IsSingleSegment)
        {
            return TryDecode(frame.FirstSpan, out packet, out error);
        }

        var length = (int)Math.Min(frame.Length, scratch.Length);
        frame.Slice(0, length).CopyTo(scratch);
        return TryDecode(scratch[..length], out packet, out error);
    }

    /// <summary>Decodes like <see cref="TryDecode(ReadOnlySpan{byte}, out Packet, out ProtocolError)"/> but throws <see cref="DlmProtocolException"/>.</summary>
    public static Packet Decode(ReadOnlySpan<byte> source) =>
        TryDecode(source, out var packet, out var error) ? packet : throw new DlmProtocolException(error);

    // spec §1.8 and the OPTS checks of §2.4: L ≥ 24, L − 24 ≥ optlen, inner minimum by o_nextcmd,
    // then the same minimum against the inner header's own h_length and h_cmd.
    private static bool TryDecodeOpts(ReadOnlySpan<byte> bytes, DlmHeader header, out Packet packet, out ProtocolError error)
    {
        packet = default;
        if (bytes.Length < WireLimits.OptsSize)
        {
            error = new(ProtocolErrorCode.InvalidOptsLength, DlmHeader.LengthOffset);
            return false;
        }

        var opts = OptsHeader.Read(bytes);
        var innerOffset = WireLimits.OptsSize + opts.OptionsLength;
        if (innerOffset > bytes.Length)
        {
            error = new(ProtocolErrorCode.InvalidOptsLength, 18);
            return false;
        }

        var minimum = MinimumLength(opts.NextCommand);
        if (minimum == 0)
        {
            error = new(ProtocolErrorCode.InvalidNextCommand, 16);
            return false;
        }

        var remaining = bytes.Length - innerOffset;
        if (remaining < minimum)
        {
            error = new(ProtocolErrorCode.InnerTooShort, innerOffset);
            return false;
        }

        var innerBytes = bytes[innerOffset..];
        var inner = DlmHeader.Read(innerBytes);
        if (inner.Command != opts.NextCommand)
        {
            error = new(ProtocolErrorCode.InnerCommandMismatch, innerOffset + 14);
            return false;
        }

        if (inner.Length < minimum)
        {
            error = new(ProtocolErrorCode.InnerTooShort, innerOffset + DlmHeader.LengthOffset);
            return false;
        }

        if (inner.Length != remaining)
        {
            error = new(ProtocolErrorCode.InnerLengthMismatch, innerOffset + DlmHeader.LengthOffset);
            return false;
        }

        if (!ProtocolVersion.IsSupported(inner.Version))
        {
            error = new(ProtocolErrorCode.UnsupportedVersion, innerOffset);
            return false;
        }

        // The inner node id is compared with the connection's node by messaging (spec §1.2); here it must be a node id.
        if (inner.NodeId <= 0)
        {
            error = new(ProtocolErrorCode.InvalidNodeId, innerOffset + 8);
            return false;
        }

        if (!TryValidateBody(innerBytes, inner.Command, innerOffset, out error))
        {
            return false;
        }

        packet = new Packet(bytes, header, opts, innerOffset, inner);
        return true;
    }

    private static int MinimumLength(DlmCommand command) => command switch
    {
        DlmCommand.Message => WireLimits.MessageSize,
        DlmCommand.Rcom => WireLimits.RcomSize,
        DlmCommand.Fin => WireLimits.HeaderSize,
        _ => 0,
    };

    // Validates a MSG / RCOM / ACK / FIN body; `at` is the body's offset in the outer message (for error offsets).
    private static bool TryValidateBody(ReadOnlySpan<byte> bytes, DlmCommand command, int at, out ProtocolError error)
    {
        switch (command)
        {
            case DlmCommand.Message:
                if (bytes.Length < WireLimits.MessageSize)
                {
                    error = new(ProtocolErrorCode.MessageTooShort, at + DlmHeader.LengthOffset);
                    return false;
                }

                if (!ValidateMessage(bytes, out error))
                {
                    error = error with { Offset = at + error.Offset };
                    return false;
                }

                return true;
            case DlmCommand.Rcom:
                if (bytes.Length < WireLimits.RcomSize)
                {
                    error = new(ProtocolErrorCode.RcomTooShort, at + DlmHeader.LengthOffset);
                    return false;
                }

                var type = (RcomType)BinaryPrimitives.ReadInt32LittleEndian(bytes[16..]);
                if (!RcomValidator.Validate(type, bytes[WireLimits.RcomSize..], out error))
                {
                    error = error with { Offset = at + error.Offset };
                    return false;
                }

                return true;
            default:
                // ACK and FIN are a bare header; extra bytes are ignored, as the kernel does.
                error = default;
                return true;
        }
    }

    // spec §1.5.1 (extra per type), §4.20 (names ≤ 64), §1.10 (LVB a multiple of 8), §4.2 (modes).
    private static bool ValidateMessage(ReadOnlySpan<byte> bytes, out ProtocolError error)
    {
        var type = (MessageType)BinaryPrimitives.ReadInt32LittleEndian(bytes[16..]);
        if (!MessageTypes.IsDefined(type))
        {
            error = new(ProtocolErrorCode.UnknownMessageType, 16);
            return false;
        }

        for (var field = 68; field <= 76; field += 4)
        {
            if (!LockModes.IsWireValid(BinaryPrimitives.ReadInt32LittleEndian(bytes[field..])))
            {
                error = new(ProtocolErrorCode.InvalidMode, field);
                return false;
            }
        }

        var extraLength = bytes.Length - WireLimits.MessageSize;
        switch (MessageTypes.ExtraOf(type))
        {
            case MessageExtra.Name when extraLength > WireLimits.MaxResourceNameLength:
                error = new(ProtocolErrorCode.NameTooLong, WireLimits.MessageSize);
                return false;
            case MessageExtra.ValueBlock when (extraLength & 7) != 0:
                error = new(ProtocolErrorCode.InvalidValueBlockLength, WireLimits.MessageSize);
                return false;
        }

        error = default;
        return true;
    }
}
