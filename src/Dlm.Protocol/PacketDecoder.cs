using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

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
    /// <see cref="TryDecodeFrame"/> and <see cref="TryValidateBody"/> in one step.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> source, out Packet packet, out ProtocolError error)
    {
        if (TryDecodeFrame(source, out packet, out error) && TryValidateBody(packet, out error))
        {
            return true;
        }

        packet = default;
        return false;
    }

    /// <summary>
    /// Decodes the header and, for a DLM_OPTS envelope, the checks of spec §2.4 that decide whether
    /// its sequence number is consumed: the lengths and commands of the envelope and of the inner
    /// message. Every structure's minimum length holds afterwards, so all fixed fields can be read;
    /// their contents are checked by <see cref="TryValidateBody"/>.
    /// </summary>
    public static bool TryDecodeFrame(ReadOnlySpan<byte> source, out Packet packet, out ProtocolError error)
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
                return TryDecodeOpts(bytes, out packet, out error);
            case DlmCommand.Message:
            case DlmCommand.Rcom:
            case DlmCommand.Ack:
            case DlmCommand.Fin:
                if (!TryCheckMinimum(bytes, header.Command, 0, out error))
                {
                    return false;
                }

                packet = new Packet(bytes, 0);
                return true;
            default:
                error = new(ProtocolErrorCode.UnknownCommand, 14);
                return false;
        }
    }

    /// <summary>
    /// The receive path's common case in one pass: a DLM_OPTS envelope without options around a DLM_MSG.
    /// True only when <see cref="TryDecodeFrame"/> and <see cref="TryValidateBody"/> would both succeed,
    /// with the same packet; false for anything else, which then takes those two (they report the error).
    /// Each field is read once, after one length check for all the fixed ones (spec §1.2, §1.8, §2.4).
    /// </summary>
    public static bool TryDecodeWrappedMessage(ReadOnlySpan<byte> source, out Packet packet)
    {
        const int Inner = WireLimits.OptsSize;
        packet = default;
        if (source.Length < Inner + WireLimits.MessageSize)
        {
            return false;
        }

        // Raw offsets, not DlmHeader.Read / OptsHeader.Read: building those structs cost 0.3–0.4 ns a message
        // here (MessagingBenchmarks.Receive, alternating). Offsets: h_version 0, h_nodeid 8, h_length 12,
        // h_cmd 14 (spec §1.2); o_nextcmd 16, o_optlen 18 (§1.8); the inner header's at 24 onwards.
        var fixedPart = source[..(Inner + WireLimits.MessageSize)];
        var length = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[DlmHeader.LengthOffset..]);
        var innerLength = BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[(Inner + DlmHeader.LengthOffset)..]);
        if (fixedPart[14] != (byte)DlmCommand.Opts || fixedPart[16] != (byte)DlmCommand.Message || fixedPart[Inner + 14] != (byte)DlmCommand.Message
            || BinaryPrimitives.ReadUInt16LittleEndian(fixedPart[18..]) != 0 // o_optlen
            || length > WireLimits.MaxMessageLength || length > source.Length || innerLength != length - Inner || innerLength < WireLimits.MessageSize
            || !ProtocolVersion.IsSupported(BinaryPrimitives.ReadUInt32LittleEndian(fixedPart))
            || !ProtocolVersion.IsSupported(BinaryPrimitives.ReadUInt32LittleEndian(fixedPart[Inner..]))
            || BinaryPrimitives.ReadInt32LittleEndian(fixedPart[8..]) <= 0 || BinaryPrimitives.ReadInt32LittleEndian(fixedPart[(Inner + 8)..]) <= 0)
        {
            return false;
        }

        var bytes = source[..length];
        if (!ValidateMessage(bytes[Inner..], out _))
        {
            return false;
        }

        packet = new Packet(bytes, Inner);
        return true;
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
    private static bool TryDecodeOpts(ReadOnlySpan<byte> bytes, out Packet packet, out ProtocolError error)
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

        error = default;
        packet = new Packet(bytes, innerOffset);
        return true;
    }

    /// <summary>
    /// Checks the contents of a packet from <see cref="TryDecodeFrame"/>: the inner header's version
    /// and node id when wrapped, then the DLM_MSG fields (spec §1.5.1, §4.2, §4.20) or the RCOM
    /// payload. A wrapped message that fails here has passed midcomms' checks: a receiver consumes its
    /// sequence number and then rejects it, as the kernel's lock layer does (spec §2.4, §4.20).
    /// </summary>
    public static bool TryValidateBody(in Packet packet, out ProtocolError error)
    {
        var inner = packet.Inner;
        var innerBytes = packet.InnerBytes;
        var at = packet.Bytes.Length - innerBytes.Length;
        if (packet.IsWrapped)
        {
            if (!ProtocolVersion.IsSupported(inner.Version))
            {
                error = new(ProtocolErrorCode.UnsupportedVersion, at);
                return false;
            }

            // The inner node id is compared with the connection's node by messaging (spec §1.2); here it must be a node id.
            if (inner.NodeId <= 0)
            {
                error = new(ProtocolErrorCode.InvalidNodeId, at + 8);
                return false;
            }
        }

        return TryValidateContent(innerBytes, inner.Command, at, out error);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int MinimumLength(DlmCommand command) => command switch
    {
        DlmCommand.Message => WireLimits.MessageSize,
        DlmCommand.Rcom => WireLimits.RcomSize,
        DlmCommand.Fin => WireLimits.HeaderSize,
        _ => 0,
    };

    // The fixed part of a plain MSG or RCOM is there; `at` is the body's offset in the outer message (for error offsets).
    private static bool TryCheckMinimum(ReadOnlySpan<byte> bytes, DlmCommand command, int at, out ProtocolError error)
    {
        switch (command)
        {
            case DlmCommand.Message when bytes.Length < WireLimits.MessageSize:
                error = new(ProtocolErrorCode.MessageTooShort, at + DlmHeader.LengthOffset);
                return false;
            case DlmCommand.Rcom when bytes.Length < WireLimits.RcomSize:
                error = new(ProtocolErrorCode.RcomTooShort, at + DlmHeader.LengthOffset);
                return false;
            default:
                // ACK and FIN are a bare header; extra bytes are ignored, as the kernel does.
                error = default;
                return true;
        }
    }

    // The contents of a MSG or RCOM whose fixed part is there; `at` as above.
    private static bool TryValidateContent(ReadOnlySpan<byte> bytes, DlmCommand command, int at, out ProtocolError error)
    {
        switch (command)
        {
            case DlmCommand.Message:
                if (!ValidateMessage(bytes, out error))
                {
                    error = error with { Offset = at + error.Offset };
                    return false;
                }

                return true;
            case DlmCommand.Rcom:
                var type = (RcomType)BinaryPrimitives.ReadInt32LittleEndian(bytes[16..]);
                if (!RcomValidator.Validate(type, bytes[WireLimits.RcomSize..], out error))
                {
                    error = error with { Offset = at + error.Offset };
                    return false;
                }

                return true;
            default:
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

        // m_grmode, m_rqmode, m_bastmode: -1..5 each (checked together; the first bad one is reported).
        var modes = bytes.Slice(68, 12);
        if (!LockModes.IsWireValid(BinaryPrimitives.ReadInt32LittleEndian(modes)) | !LockModes.IsWireValid(BinaryPrimitives.ReadInt32LittleEndian(modes[4..]))
            | !LockModes.IsWireValid(BinaryPrimitives.ReadInt32LittleEndian(modes[8..])))
        {
            for (var field = 68; ; field += 4)
            {
                if (!LockModes.IsWireValid(BinaryPrimitives.ReadInt32LittleEndian(bytes[field..])))
                {
                    error = new(ProtocolErrorCode.InvalidMode, field);
                    return false;
                }
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
