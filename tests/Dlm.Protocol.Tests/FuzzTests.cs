using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Dlm.Protocol.Tests;

/// <summary>
/// Bounded fuzzing of the decoders, run in CI: random bytes and mutations of valid messages of
/// every kind go through <see cref="PacketDecoder"/> (span and multi-segment sequence forms),
/// <see cref="FrameReader"/> (on concatenations) and <see cref="NamesReader"/>. No exception may
/// escape, every accepted packet must be self-consistent and every error offset must lie inside
/// the input. Longer runs:
/// <c>DLM_FUZZ_ITERATIONS=10000000 DLM_FUZZ_SEED=123 dotnet test tests/Dlm.Protocol.Tests --filter FullyQualifiedName~FuzzTests</c>.
/// </summary>
public sealed partial class FuzzTests
{
    private const int DefaultSeed = 0x0D1A_3232;
    private const int DefaultIterations = 100_000;
    private const int MaxRandomLength = 4200;

    // Values that sit on a decoder boundary (lengths, modes, types, markers, signs).
    private static readonly uint[] BoundaryValues =
    [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 14, 15, 16, 17, 23, 24, 25, 31, 32, 47, 48, 49, 63, 64, 65,
        87, 88, 89, 107, 108, 109, 156, 4024, 4071, 4072, 4073, 4095, 4096, 4097,
        0x7F, 0x80, 0xFE, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF, 0x1_0000,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF,
        ProtocolVersion.V31, ProtocolVersion.V32, 0x0003_0000, 0x0003_0003,
    ];

    // Offsets of every header, opts, message, rcom, rcom_config and rcom_lock field, plain and behind
    // an OPTS envelope with optlen 0 and 8.
    private static readonly int[] FieldOffsets = BuildFieldOffsets();

    private readonly ITestOutputHelper _output;

    public FuzzTests(ITestOutputHelper output) => _output = output;

    [Fact]
    public void Decoders_RandomAndMutatedInput_NeverThrowAndStayConsistent()
    {
        var seed = ReadSetting("DLM_FUZZ_SEED", DefaultSeed);
        var iterations = ReadSetting("DLM_FUZZ_ITERATIONS", DefaultIterations);
        _output.WriteLine($"DLM_FUZZ_SEED={seed} DLM_FUZZ_ITERATIONS={iterations}");

        var rng = new Random(seed);
        var corpus = Corpus.Build(rng);
        foreach (var valid in corpus)
        {
            Assert.True(PacketDecoder.TryDecode(valid, out _, out var error),
                $"seed {seed}: corpus message {Convert.ToHexString(valid)} rejected: {error}");
        }

        var scratch = new byte[WireLimits.MaxMessageLength];
        var recent = new byte[8][];
        Array.Fill(recent, Vectors.WorkedExample);
        var accepted = 0;
        var codes = new int[Enum.GetValues<ProtocolErrorCode>().Length];
        var stopwatch = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
        {
            var input = Array.Empty<byte>();
            var stage = "generate";
            try
            {
                input = NextInput(rng, corpus);
                stage = "decode";
                var code = CheckDecode(input, rng, scratch);
                codes[(int)code]++;
                accepted += code == ProtocolErrorCode.None ? 1 : 0;
                stage = "names";
                CheckNamesWalk(input, rng);
                recent[i % recent.Length] = input;
                if (i % 4 == 0)
                {
                    stage = "frames";
                    input = Concatenate(rng, recent, corpus);
                    CheckFrames(input, rng, scratch);
                }
            }
            catch (Exception ex) // any exception is a finding: report it with the seed and the input
            {
                Assert.Fail(
                    $"Fuzz failure (DLM_FUZZ_SEED={seed}, iteration {i} of {iterations}, stage {stage}): {ex}\n" +
                    $"input ({input.Length} bytes): {Convert.ToHexString(input)}");
            }
        }

        _output.WriteLine($"{iterations} inputs, {accepted} accepted, {stopwatch.Elapsed.TotalSeconds:F1} s");
        _output.WriteLine(string.Join(", ", Enum.GetValues<ProtocolErrorCode>().Select(c => $"{c} {codes[(int)c]}")));
        Assert.True(accepted >= iterations / 20, $"seed {seed}: only {accepted} of {iterations} inputs decoded; the mutations are too destructive to reach the body checks");
    }

    [Fact]
    public void Segments_Split_CoversTheArrayInOrder()
    {
        byte[] data = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

        var sequence = Segments.Split(data, 7, 0, 3, 3, 10);

        Assert.False(sequence.IsSingleSegment);
        Assert.Equal(data, sequence.ToArray());
        Assert.Equal(data.Length, sequence.Length);
        Assert.True(Segments.Split(data).IsSingleSegment);
        Assert.Empty(Segments.Split([], 0).ToArray());
    }

    // ------------------------------------------------------------------ checks

    /// <summary>Decodes <paramref name="input"/> as a span and as a sequence; both must agree. Returns the span form's error code.</summary>
    private static ProtocolErrorCode CheckDecode(byte[] input, Random rng, byte[] scratch)
    {
        var ok = PacketDecoder.TryDecode(input, out var packet, out var error);
        if (ok)
        {
            CheckPacket(packet, input);
        }
        else
        {
            CheckError(error, input);
        }

        // The receive path's one-pass decoder accepts exactly the wrapped DLM_MSGs without options that the
        // general path accepts, as the same packet.
        var fast = PacketDecoder.TryDecodeWrappedMessage(input, out var fastPacket);
        var fastShape = ok && packet.IsWrapped && packet.Kind == DlmCommand.Message && packet.Options.IsEmpty;
        Require(fast == fastShape, fast ? "the one-pass decoder accepted what the general path rejects" : "the one-pass decoder rejected a wrapped DLM_MSG the general path accepts");
        if (fast)
        {
            Require(fastPacket.Bytes == packet.Bytes && fastPacket.InnerBytes == packet.InnerBytes, "the one-pass decoder decoded a different packet");
        }

        var sequence = Segments.Split(input, RandomCuts(rng, input.Length));
        var okSequence = PacketDecoder.TryDecode(sequence, scratch, out var fromSequence, out var errorSequence);
        Require(okSequence == ok, "span and sequence forms disagree on acceptance");
        if (okSequence)
        {
            CheckPacket(fromSequence, sequence.IsSingleSegment ? input : scratch);
            Require(fromSequence.Bytes.SequenceEqual(packet.Bytes), "span and sequence forms decoded different bytes");
        }
        else
        {
            Require(errorSequence == error, "span and sequence forms report different errors");
        }

        if (!ok && rng.Next(64) == 0)
        {
            try
            {
                _ = PacketDecoder.Decode(input);
                Require(false, "Decode accepted what TryDecode rejected");
            }
            catch (DlmProtocolException ex)
            {
                Require(ex.Error == error, "DlmProtocolException carries a different error");
            }
        }

        return error.Code;
    }

    private static void CheckError(ProtocolError error, byte[] input)
    {
        Require(error.Code != ProtocolErrorCode.None && Enum.IsDefined(error.Code), "undefined error code");
        Require(error.Offset >= 0 && error.Offset <= input.Length, "error offset outside the input");
        Require(error.Describe() != error.Code.ToString(), "error code without a description");
        if (error.Code == ProtocolErrorCode.Truncated)
        {
            Require(error.Offset == input.Length, "Truncated must point at the end of the input");
            Require(input.Length < WireLimits.HeaderSize || input.Length < HeaderLength(input), "Truncated although the message is complete");
        }
        else if (error.Code == ProtocolErrorCode.LengthOutOfRange)
        {
            Require(error.Offset == DlmHeader.LengthOffset, "LengthOutOfRange must point at h_length");
            Require(HeaderLength(input) is < WireLimits.HeaderSize or > WireLimits.MaxMessageLength, "LengthOutOfRange for a length in range");
            Require(error.IsFatalToConnection, "a framing error must be fatal");
        }
        else
        {
            Require(error.Offset <= HeaderLength(input), "error offset past h_length");
            Require(!error.IsFatalToConnection, "only framing errors are fatal");
        }
    }

    /// <summary>Self-consistency of an accepted packet decoded from <paramref name="source"/>.</summary>
    private static void CheckPacket(in Packet p, ReadOnlySpan<byte> source)
    {
        var bytes = p.Bytes;
        Require(bytes.Length == p.Header.Length, "Bytes.Length != h_length");
        Require(bytes.Length is >= WireLimits.HeaderSize and <= WireLimits.MaxMessageLength, "h_length outside 16..4096 accepted");
        Require(source.Overlaps(bytes, out var at) && at == 0, "Bytes is not a prefix of the input");
        Require(p.Header == DlmHeader.Read(source), "Header differs from the input's header");
        Require(ProtocolVersion.IsSupported(p.Header.Version), "unsupported outer version accepted");
        Require(p.Header.NodeId > 0, "non-positive h_nodeid accepted");
        RequireWithin(bytes, p.Extra, "Extra");
        RequireWithin(bytes, p.Options, "Options");
        var inner = p.InnerBytes;
        RequireWithin(bytes, inner, "InnerBytes");
        Require(p.Inner.Length == inner.Length, "Inner.Length != InnerBytes.Length");
        Require(p.Inner == DlmHeader.Read(inner), "Inner differs from the inner bytes' header");
        Require(ProtocolVersion.IsSupported(p.Inner.Version), "unsupported inner version accepted");

        if (p.IsWrapped)
        {
            Require(bytes.Length >= WireLimits.OptsSize, "OPTS shorter than 24 accepted");
            Require(p.Opts == OptsHeader.Read(bytes), "Opts differs from the input");
            Require(p.Options.Length == p.Opts.OptionsLength, "Options.Length != o_optlen");
            Require(p.Options.IsEmpty || (bytes.Overlaps(p.Options, out var o) && o == WireLimits.OptsSize), "Options not at offset 24");
            Require(WireLimits.OptsSize + p.Opts.OptionsLength + inner.Length == bytes.Length, "envelope does not add up");
            Require(p.Kind == p.Opts.NextCommand, "Kind != o_nextcmd");
            Require(p.Kind is DlmCommand.Message or DlmCommand.Rcom or DlmCommand.Fin, "bad inner command accepted");
        }
        else
        {
            Require(p.Inner == p.Header, "Inner != Header for a plain message");
            Require(inner.Length == bytes.Length, "InnerBytes != Bytes for a plain message");
            Require(p.Options.IsEmpty, "Options on a plain message");
            Require(p.Kind is DlmCommand.Message or DlmCommand.Rcom or DlmCommand.Ack or DlmCommand.Fin, "bad command accepted");
        }

        switch (p.Kind)
        {
            case DlmCommand.Message:
                CheckMessage(p, inner);
                break;
            case DlmCommand.Rcom:
                CheckRcom(p, inner);
                break;
            default:
                Require(p.Extra.IsEmpty, "Extra on ACK/FIN");
                break;
        }
    }

    private static void CheckMessage(in Packet p, ReadOnlySpan<byte> inner)
    {
        Require(inner.Length >= WireLimits.MessageSize, "DLM_MSG shorter than 88 accepted");
        Require(p.Extra.Length == inner.Length - WireLimits.MessageSize, "Extra is not m_extra");
        Require(EndsAt(inner, p.Extra), "m_extra does not end the message");
        var m = p.Message;
        Require(m == DlmMessage.Read(inner), "Message differs from the input");
        Require(MessageTypes.IsDefined(m.Type), "undefined m_type accepted");
        Require(LockModes.IsWireValid((int)m.GrantedMode) && LockModes.IsWireValid((int)m.RequestedMode)
            && LockModes.IsWireValid((int)m.BastMode), "invalid mode accepted");
        switch (MessageTypes.ExtraOf(m.Type))
        {
            case MessageExtra.Name:
                Require(p.Extra.Length <= WireLimits.MaxResourceNameLength, "name over 64 accepted");
                break;
            case MessageExtra.ValueBlock:
                Require(p.Extra.Length % 8 == 0, "LVB not a multiple of 8 accepted");
                break;
        }

        // Field round trip: writing the decoded fields reproduces bytes 16..88.
        Span<byte> copy = stackalloc byte[WireLimits.MessageSize];
        m.Write(copy);
        Require(copy[WireLimits.HeaderSize..].SequenceEqual(inner[WireLimits.HeaderSize..WireLimits.MessageSize]), "DlmMessage round trip differs");
    }

    private static void CheckRcom(in Packet p, ReadOnlySpan<byte> inner)
    {
        Require(inner.Length >= WireLimits.RcomSize, "DLM_RCOM shorter than 48 accepted");
        Require(p.Extra.Length == inner.Length - WireLimits.RcomSize, "Extra is not rc_buf");
        Require(EndsAt(inner, p.Extra), "rc_buf does not end the message");
        Require(p.Rcom == RcomHeader.Read(inner), "Rcom differs from the input");
        var payload = p.Extra;
        switch (p.Rcom.Type)
        {
            case RcomType.Status:
                Require(payload.Length is 0 or >= WireLimits.RcomStatusSize, "short rcom_status accepted");
                if (!payload.IsEmpty)
                {
                    _ = RcomStatus.Read(payload).WantsSlots;
                }

                break;
            case RcomType.StatusReply:
                Require(payload.Length >= WireLimits.RcomConfigSize, "short rcom_config accepted");
                var config = RcomConfig.Read(payload);
                Require(WireLimits.RcomConfigSize + (config.SlotCount * WireLimits.RcomSlotSize) <= payload.Length, "rf_num_slots past the end accepted");
                for (var i = 0; i < config.SlotCount; i++)
                {
                    _ = RcomConfig.ReadSlot(payload, i);
                }

                break;
            case RcomType.Names:
            case RcomType.Lookup:
                Require(payload.Length <= WireLimits.MaxResourceNameLength, "name over 64 accepted");
                break;
            case RcomType.NamesReply:
                var end = WalkNames(payload);
                Require(end is NamesRecord.EndOfChunk or NamesRecord.EndOfList, "NAMES_REPLY without a valid walk accepted");
                break;
            case RcomType.Lock:
            case RcomType.LockReply:
                Require(payload.Length >= WireLimits.RcomLockSize, "short rcom_lock accepted");
                var rl = RcomLock.Read(payload);
                Require(rl.NameLength <= WireLimits.MaxResourceNameLength, "rl_namelen over 64 accepted");
                Require(LockModes.IsWireValid((int)rl.RequestedMode) && LockModes.IsWireValid((int)rl.GrantedMode), "invalid rl mode accepted");
                Require(RcomLock.NameOf(payload).Length == rl.NameLength, "NameOf length");
                Require(RcomLock.ValueBlockOf(payload).Length % 8 == 0, "rcom_lock LVB not a multiple of 8 accepted");
                break;
            case RcomType.LookupReply:
                break;
            default:
                Require(false, "undefined rc_type accepted");
                break;
        }
    }

    /// <summary>Walks a NAMES_REPLY payload, checking every step against an independent reading of the format.</summary>
    private static NamesRecord WalkNames(ReadOnlySpan<byte> payload)
    {
        var reader = new NamesReader(payload);
        var steps = 0;
        while (true)
        {
            var before = reader.Offset;
            Require(before >= 0 && before <= payload.Length, "NamesReader offset outside the payload");
            Require(steps++ <= (payload.Length / 3) + 1, "NamesReader does not terminate");
            var record = reader.Next(out var name);
            var remaining = payload.Length - before;
            var prefix = remaining >= 2 ? BinaryPrimitives.ReadUInt16BigEndian(payload[before..]) : -1;
            switch (record)
            {
                case NamesRecord.Name:
                    Require(prefix is >= 1 and <= WireLimits.MaxResourceNameLength && prefix <= remaining - 2, "NamesReader accepted a bad record");
                    Require(name.Length == prefix && payload.Overlaps(name, out var at) && at == before + 2, "name is not the record's bytes");
                    Require(reader.Offset == before + 2 + prefix, "NamesReader advanced wrongly");
                    continue;
                case NamesRecord.EndOfChunk:
                case NamesRecord.EndOfList:
                    Require(prefix == (record == NamesRecord.EndOfChunk ? NamesReader.ChunkEnd : NamesReader.ListEnd), "wrong marker");
                    break;
                default:
                    Require(prefix == -1 || (prefix is not NamesReader.ChunkEnd and not NamesReader.ListEnd
                        && (prefix > WireLimits.MaxResourceNameLength || prefix > remaining - 2)), "NamesReader rejected a good record");
                    break;
            }

            Require(name.IsEmpty && reader.Offset == before, "reader moved on a marker or an invalid record");
            Require(reader.Next(out _) == record && reader.Offset == before, "reader does not stay put after the end");
            return record;
        }
    }

    /// <summary>Walks the input as a NAMES_REPLY payload: from its rc_buf offset, or from a random offset.</summary>
    private static void CheckNamesWalk(byte[] input, Random rng)
    {
        var start = rng.Next(3) switch
        {
            0 => WireLimits.RcomSize,
            1 => WireLimits.OptsSize + WireLimits.RcomSize,
            _ => rng.Next(input.Length + 1),
        };
        WalkNames(input.AsSpan(Math.Min(start, input.Length)));
    }

    /// <summary>Frames a concatenation (split into random segments) and decodes every frame.</summary>
    private static void CheckFrames(byte[] stream, Random rng, byte[] scratch)
    {
        var whole = Segments.Split(stream, RandomCuts(rng, stream.Length));
        var buffer = whole;
        var consumed = 0;
        while (true)
        {
            var before = buffer;
            var status = FrameReader.TryReadFrame(ref buffer, out var frame);
            var rest = stream.AsSpan(consumed);
            Require(FrameReader.TryReadFrame(rest, out var spanLength) == status, "span and sequence framers disagree");
            if (status != OperationStatus.Done)
            {
                Require(buffer.Start.Equals(before.Start) && buffer.End.Equals(before.End), "framer moved the buffer without a frame");
                Require(frame.IsEmpty && spanLength == 0, "framer returned a frame without Done");
                var length = HeaderLength(rest);
                Require(status == OperationStatus.NeedMoreData
                    ? rest.Length < WireLimits.HeaderSize || (length is >= WireLimits.HeaderSize and <= WireLimits.MaxMessageLength && rest.Length < length)
                    : rest.Length >= WireLimits.HeaderSize && length is < WireLimits.HeaderSize or > WireLimits.MaxMessageLength,
                    $"unexpected {status}");
                return;
            }

            Require(frame.Length == spanLength && frame.Length == HeaderLength(rest), "frame length is not h_length");
            // Positions compare by offset: the end of one segment and the start of the next are the same place.
            Require(whole.GetOffset(frame.Start) == consumed && whole.GetOffset(buffer.Start) == consumed + spanLength, "frame is not the head of the buffer");
            Require(buffer.Length == before.Length - frame.Length, "buffer not advanced by the frame");
            var bytes = frame.ToArray();
            Require(rest[..spanLength].SequenceEqual(bytes), "frame bytes differ from the stream");

            var ok = PacketDecoder.TryDecode(frame, scratch, out var packet, out var error);
            Require(ok == PacketDecoder.TryDecode(bytes, out _, out var spanError) && (ok || error == spanError), "frame decodes differently from its bytes");
            if (ok)
            {
                CheckPacket(packet, frame.IsSingleSegment ? frame.FirstSpan : scratch);
            }
            else
            {
                CheckError(error, bytes);
            }

            consumed += spanLength;
        }
    }

}
