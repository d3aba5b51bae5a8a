using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace Dlm.Protocol.Tests;

public sealed partial class FuzzTests
{
    // ------------------------------------------------------------------ input generation

    private static byte[] NextInput(Random rng, List<byte[]> corpus)
    {
        var roll = rng.Next(100);
        if (roll < 10)
        {
            return RandomBytes(rng, rng.Next(MaxRandomLength + 1));
        }

        if (roll < 15)
        {
            return RandomBytes(rng, rng.Next(WireLimits.MessageSize * 2));
        }

        if (roll < 25)
        {
            // Random body behind a plausible header, so the command-specific checks run.
            var bytes = RandomBytes(rng, rng.Next(WireLimits.HeaderSize, WireLimits.MaxMessageLength + 1));
            BinaryPrimitives.WriteUInt32LittleEndian(bytes, rng.Next(2) == 0 ? ProtocolVersion.V32 : ProtocolVersion.V31);
            BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), rng.Next(1, 64));
            bytes[14] = (byte)rng.Next(1, 6);
            FixLengths(bytes, rng);
            return bytes;
        }

        var input = corpus[rng.Next(corpus.Count)];
        if (roll < 30)
        {
            return input.ToArray(); // unmutated, also feeds valid frames to the concatenations
        }

        var mutations = rng.Next(1, 4);
        for (var m = 0; m < mutations; m++)
        {
            input = Mutate(rng, input, corpus);
        }

        if (rng.Next(3) == 0)
        {
            FixLengths(input, rng);
        }

        return input;
    }

    /// <summary>Returns a mutated copy of <paramref name="source"/>.</summary>
    private static byte[] Mutate(Random rng, byte[] source, List<byte[]> corpus)
    {
        var bytes = source.ToArray();
        switch (rng.Next(7))
        {
            case 0: // flip bytes
                for (var n = rng.Next(1, 5); n > 0 && bytes.Length > 0; n--)
                {
                    bytes[rng.Next(bytes.Length)] ^= (byte)rng.Next(1, 256);
                }

                return bytes;
            case 1: // a field set to a boundary value
            case 2:
                SetBoundary(rng, bytes);
                return bytes;
            case 3: // truncate
                return bytes.Length == 0 ? bytes : bytes[..rng.Next(bytes.Length)];
            case 4: // extend with zeros or random bytes
                var extension = rng.Next(2) == 0 ? new byte[rng.Next(1, 200)] : RandomBytes(rng, rng.Next(1, 200));
                return [.. bytes, .. extension];
            case 5: // splice: head of this one, tail of another
                var other = corpus[rng.Next(corpus.Count)];
                return [.. bytes.AsSpan(0, rng.Next(bytes.Length + 1)), .. other.AsSpan(rng.Next(other.Length + 1))];
            default: // insert a whole other message somewhere (e.g. as an inner message)
                var insert = corpus[rng.Next(corpus.Count)];
                var at = rng.Next(bytes.Length + 1);
                return [.. bytes.AsSpan(0, at), .. insert, .. bytes.AsSpan(at)];
        }
    }

    private static void SetBoundary(Random rng, byte[] bytes)
    {
        if (bytes.Length == 0)
        {
            return;
        }

        var offset = rng.Next(4) == 0 ? rng.Next(bytes.Length) : FieldOffsets[rng.Next(FieldOffsets.Length)];
        if (offset >= bytes.Length)
        {
            offset = rng.Next(bytes.Length);
        }

        var value = BoundaryValues[rng.Next(BoundaryValues.Length)];
        var width = Math.Min(bytes.Length - offset, rng.Next(3) switch { 0 => 1, 1 => 2, _ => 4 });
        var span = bytes.AsSpan(offset, width);
        switch (width)
        {
            case 4:
                BinaryPrimitives.WriteUInt32LittleEndian(span, value);
                break;
            case 2 or 3 when rng.Next(4) == 0: // NAMES_REPLY prefixes are big-endian
                BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)value);
                break;
            case 2 or 3:
                BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)value);
                break;
            default:
                span[0] = (byte)value;
                break;
        }
    }

    /// <summary>Makes h_length (and, for OPTS, the inner h_length) match the bytes present, when they fit.</summary>
    private static void FixLengths(byte[] bytes, Random rng)
    {
        if (bytes.Length < WireLimits.HeaderSize)
        {
            return;
        }

        var length = Math.Min(bytes.Length, rng.Next(4) == 0 ? rng.Next(WireLimits.HeaderSize, bytes.Length + 1) : bytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(DlmHeader.LengthOffset), (ushort)Math.Min(length, ushort.MaxValue));
        if (bytes[14] == (byte)DlmCommand.Opts && length >= WireLimits.OptsSize)
        {
            var inner = WireLimits.OptsSize + BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(18));
            if (inner + WireLimits.HeaderSize <= length)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(inner + DlmHeader.LengthOffset), (ushort)(length - inner));
            }
        }
    }

    private static byte[] Concatenate(Random rng, byte[][] recent, List<byte[]> corpus)
    {
        var parts = new List<byte[]>();
        for (var n = rng.Next(1, 6); n > 0; n--)
        {
            parts.Add(rng.Next(3) == 0 ? corpus[rng.Next(corpus.Count)] : recent[rng.Next(recent.Length)]);
        }

        if (rng.Next(4) == 0)
        {
            parts.Add(RandomBytes(rng, rng.Next(40)));
        }

        return [.. parts.SelectMany(p => p)];
    }

    private static byte[] RandomBytes(Random rng, int length)
    {
        var bytes = new byte[length];
        rng.NextBytes(bytes);
        return bytes;
    }

    private static int[] RandomCuts(Random rng, int length)
    {
        var count = rng.Next(5);
        var cuts = new int[count];
        for (var i = 0; i < count; i++)
        {
            cuts[i] = rng.Next(8) == 0 ? Math.Min(length, rng.Next(20)) : rng.Next(length + 1);
        }

        return cuts;
    }

    private static int[] BuildFieldOffsets()
    {
        int[] header = [0, 4, 8, 12, 13, 14, 15];
        int[] opts = [16, 17, 18, 19, 20];
        int[] body = [16, 20, 24, 28, 32, 36, 40, 44, 48, 52, 56, 60, 64, 68, 72, 76, 80, 84, 88];
        int[] rcomPayload = [0, 12, 14, 16, 32, 36, 37, 38, 39, 40, 42, 44, 107, 108];
        var plain = header.Concat(body).Concat(rcomPayload.Select(o => WireLimits.RcomSize + o)).ToArray();
        return [.. opts, .. plain, .. plain.Select(o => o + WireLimits.OptsSize), .. plain.Select(o => o + WireLimits.OptsSize + 8)];
    }

    // ------------------------------------------------------------------ helpers

    private static int HeaderLength(ReadOnlySpan<byte> bytes) =>
        bytes.Length >= WireLimits.HeaderSize ? BinaryPrimitives.ReadUInt16LittleEndian(bytes[DlmHeader.LengthOffset..]) : -1;

    private static bool EndsAt(ReadOnlySpan<byte> whole, ReadOnlySpan<byte> part) =>
        part.IsEmpty || (whole.Overlaps(part, out var at) && at + part.Length == whole.Length);

    private static void RequireWithin(ReadOnlySpan<byte> whole, ReadOnlySpan<byte> part, string what) =>
        Require(part.IsEmpty || (whole.Overlaps(part, out var at) && at >= 0 && at + part.Length <= whole.Length), $"{what} is not within Bytes");

    private static void Require(bool condition, string what)
    {
        if (!condition)
        {
            throw new InvalidOperationException("Invariant broken: " + what);
        }
    }

    private static int ReadSetting(string name, int fallback)
    {
        var text = Environment.GetEnvironmentVariable(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        text = text.Trim();
        var ok = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
            ? int.TryParse(text.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var value)
            : int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
        return ok ? value : throw new InvalidOperationException($"{name}={text} is not an integer.");
    }

    /// <summary>Valid messages of every kind, with seeded random field values.</summary>
    private static class Corpus
    {
        private const uint Lockspace = Vectors.MyLockspace;

        public static List<byte[]> Build(Random rng)
        {
            var list = new List<byte[]> { Vectors.WorkedExample, Vectors.WorkedExampleAck, Ack(rng), WrappedFin(rng) };
            foreach (var type in Enum.GetValues<MessageType>())
            {
                int[] lengths = MessageTypes.ExtraOf(type) switch
                {
                    MessageExtra.Name => [0, 1, 3, 64, rng.Next(65)],
                    MessageExtra.ValueBlock => [0, 8, 32, 64],
                    _ => [0],
                };
                foreach (var length in lengths)
                {
                    list.Add(PlainMessage(rng, type, length));
                    list.Add(WrappedMessage(rng, type, length));
                }
            }

            // RCOM, every type, plain and wrapped.
            var status = new byte[WireLimits.RcomStatusSize];
            new RcomStatus(RcomStatus.NeedSlots).Write(status);
            AddRcom(list, rng, RcomType.Status, status);
            AddRcom(list, rng, RcomType.Status, []);
            AddRcom(list, rng, RcomType.Names, []);
            AddRcom(list, rng, RcomType.Names, Name(rng, rng.Next(1, 65)));
            AddRcom(list, rng, RcomType.Lookup, Name(rng, rng.Next(1, 65)));
            AddRcom(list, rng, RcomType.Lookup, Name(rng, 64));
            foreach (var lvb in new[] { 0, 32, 64 })
            {
                AddRcom(list, rng, RcomType.Lock, RcomLockPayload(rng, lvb));
            }

            AddRcom(list, rng, RcomType.LockReply, RcomLockPayload(rng, 0));
            foreach (var slots in new[] { 0, 1, 3, WireLimits.MaxSlots })
            {
                AddRcom(list, rng, RcomType.StatusReply, StatusReplyPayload(rng, slots, slots));
            }

            AddRcom(list, rng, RcomType.StatusReply, StatusReplyPayload(rng, 5, 2)); // spec §9.1.5
            AddRcom(list, rng, RcomType.NamesReply, NamesReplyPayload(rng, endOfList: true, WireLimits.NamesReplyCapacity));
            AddRcom(list, rng, RcomType.NamesReply, NamesReplyPayload(rng, endOfList: false, WireLimits.NamesReplyCapacity));
            AddRcom(list, rng, RcomType.NamesReply, NamesReplyPayload(rng, endOfList: true, 200));
            AddRcom(list, rng, RcomType.LookupReply, []);

            // Envelopes with an 8-byte option, and 3.1-era plain messages.
            var count = list.Count;
            for (var i = 0; i < count; i++)
            {
                var item = list[i];
                if (item[14] == (byte)DlmCommand.Opts && item.Length + 8 <= WireLimits.MaxMessageLength && rng.Next(3) == 0)
                {
                    list.Add(WithOption(item));
                }
                else if (item[14] is (byte)DlmCommand.Message or (byte)DlmCommand.Rcom && rng.Next(4) == 0)
                {
                    var v31 = item.ToArray();
                    BinaryPrimitives.WriteUInt32LittleEndian(v31, ProtocolVersion.V31);
                    list.Add(v31);
                }
            }

            return list;
        }

        private static void AddRcom(List<byte[]> list, Random rng, RcomType type, byte[] payload)
        {
            var rcom = new RcomHeader(type, rng.Next(-120, 64), (ulong)rng.NextInt64(), (ulong)rng.NextInt64(), (ulong)rng.NextInt64());
            if (WireLimits.RcomSize + payload.Length <= WireLimits.MaxAppMessageLength)
            {
                var plain = new byte[PacketWriter.RcomLength(payload.Length)];
                PacketWriter.WriteRcom(plain, Lockspace, NodeId(rng), rcom, payload);
                list.Add(plain);
            }

            var wrapped = new byte[PacketWriter.OptsLength(PacketWriter.RcomLength(payload.Length))];
            PacketWriter.WriteWrappedRcom(wrapped, (uint)rng.Next(), Lockspace, NodeId(rng), rcom, payload);
            list.Add(wrapped);
        }

        private static byte[] PlainMessage(Random rng, MessageType type, int extraLength)
        {
            var bytes = new byte[PacketWriter.MessageLength(extraLength)];
            PacketWriter.WriteMessage(bytes, Lockspace, NodeId(rng), Message(rng, type), Name(rng, extraLength));
            return bytes;
        }

        private static byte[] WrappedMessage(Random rng, MessageType type, int extraLength)
        {
            var bytes = new byte[PacketWriter.OptsLength(PacketWriter.MessageLength(extraLength))];
            PacketWriter.WriteWrappedMessage(bytes, (uint)rng.Next(), Lockspace, NodeId(rng), Message(rng, type), Name(rng, extraLength));
            return bytes;
        }

        private static DlmMessage Message(Random rng, MessageType type) => new()
        {
            Type = type,
            NodeId = rng.Next(-1, 16),
            Pid = rng.Next(),
            LockId = (uint)rng.Next(),
            RemoteId = (uint)rng.Next(),
            ExFlags = (LockFlags)rng.Next(0, 0x8_0000),
            SbFlags = (StatusBlockFlags)rng.Next(8),
            Flags = (SharedLockFlags)rng.Next(),
            LvbSeq = (uint)rng.Next(),
            Hash = (uint)rng.Next(),
            Status = (QueueStatus)rng.Next(4),
            GrantedMode = Mode(rng),
            RequestedMode = Mode(rng),
            BastMode = Mode(rng),
            Asts = (AstFlags)rng.Next(4),
            Result = rng.Next(-65538, 1),
        };

        private static LockMode Mode(Random rng) => (LockMode)rng.Next(-1, 6);

        private static int NodeId(Random rng) => rng.Next(1, 200);

        private static byte[] Ack(Random rng)
        {
            var bytes = new byte[WireLimits.HeaderSize];
            PacketWriter.WriteAck(bytes, (uint)rng.Next(), NodeId(rng));
            return bytes;
        }

        private static byte[] WrappedFin(Random rng)
        {
            var bytes = new byte[WireLimits.OptsSize + WireLimits.HeaderSize];
            PacketWriter.WriteWrappedFin(bytes, (uint)rng.Next(), NodeId(rng));
            return bytes;
        }

        private static byte[] Name(Random rng, int length)
        {
            var name = new byte[length];
            rng.NextBytes(name);
            return name;
        }

        private static byte[] RcomLockPayload(Random rng, int valueBlockLength)
        {
            var payload = new byte[WireLimits.RcomLockSize + valueBlockLength];
            var rl = new RcomLock
            {
                OwnerPid = rng.Next(),
                LockId = (uint)rng.Next(),
                RemoteId = (uint)rng.Next(),
                ExFlags = (LockFlags)rng.Next(0, 0x8_0000),
                Flags = (SharedLockFlags)rng.Next(4),
                LvbSeq = (uint)rng.Next(),
                Result = rng.Next(-60, 1),
                RequestedMode = Mode(rng),
                GrantedMode = Mode(rng),
                Status = (QueueStatus)rng.Next(1, 4),
                Asts = (AstFlags)rng.Next(4),
                WaitType = (ushort)rng.Next(15),
            };
            rl.Write(payload, Name(rng, rng.Next(65)), Name(rng, valueBlockLength));
            return payload;
        }

        private static byte[] StatusReplyPayload(Random rng, int slotsPresent, int slotCount)
        {
            var payload = new byte[WireLimits.RcomConfigSize + (slotsPresent * WireLimits.RcomSlotSize)];
            new RcomConfig(32, 0, 0, (ushort)rng.Next(8), (ushort)slotCount, (uint)rng.Next()).Write(payload);
            for (var i = 0; i < slotsPresent; i++)
            {
                new RcomSlot(rng.Next(1, 1000), (ushort)(i + 1)).Write(payload.AsSpan(WireLimits.RcomConfigSize + (i * WireLimits.RcomSlotSize)));
            }

            return payload;
        }

        private static byte[] NamesReplyPayload(Random rng, bool endOfList, int capacity)
        {
            var payload = new byte[capacity];
            var writer = new NamesWriter(payload);
            while (writer.TryAdd(Name(rng, rng.Next(1, 65))))
            {
            }

            writer.Complete(endOfList);
            return payload;
        }

        private static byte[] WithOption(byte[] wrapped)
        {
            const int OptionLength = 8;
            var bytes = new byte[wrapped.Length + OptionLength];
            wrapped.AsSpan(0, WireLimits.OptsSize).CopyTo(bytes);
            wrapped.AsSpan(WireLimits.OptsSize).CopyTo(bytes.AsSpan(WireLimits.OptsSize + OptionLength));
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(WireLimits.OptsSize), 1); // t_type 1, t_length 0
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(18), OptionLength);
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(DlmHeader.LengthOffset), (ushort)bytes.Length);
            return bytes;
        }
    }
}
