using System.Buffers.Binary;
using System.Text;

namespace Dlm.Protocol.Tests;

public sealed class GoldenVectorTests
{
    [Fact]
    public void Decode_WorkedExample_YieldsEveryField()
    {
        Assert.True(PacketDecoder.TryDecode(Vectors.WorkedExample, out var p, out var error), error.ToString());

        Assert.Equal(new DlmHeader(ProtocolVersion.V32, 5, 1, 115, DlmCommand.Opts), p.Header);
        Assert.True(p.IsWrapped);
        Assert.Equal(new OptsHeader(DlmCommand.Message, 0), p.Opts);
        Assert.Equal(new DlmHeader(ProtocolVersion.V32, Vectors.MyLockspace, 1, 91, DlmCommand.Message), p.Inner);
        Assert.Equal(Vectors.WorkedExampleMessage, p.Message);
        Assert.Equal("foo"u8.ToArray(), p.Extra.ToArray());
    }

    [Fact]
    public void Encode_WorkedExample_MatchesSpecBytes()
    {
        var buffer = new byte[200];
        var n = PacketWriter.WriteWrappedMessage(buffer, 5, Vectors.MyLockspace, 1, Vectors.WorkedExampleMessage, "foo"u8);

        Assert.Equal(Vectors.WorkedExample, buffer[..n]);
    }

    [Fact]
    public void EncodeDecode_WorkedExampleAck_MatchesSpecBytes()
    {
        var buffer = new byte[16];
        PacketWriter.WriteAck(buffer, 6, 2);
        Assert.Equal(Vectors.WorkedExampleAck, buffer);

        var p = PacketDecoder.Decode(buffer);
        Assert.Equal(DlmCommand.Ack, p.Kind);
        Assert.Equal(6u, p.Header.Sequence);
        Assert.Equal(2, p.Header.NodeId);
    }

    [Fact]
    public void ResourceHash_EveryTailLength_MatchesAByteWiseReference()
    {
        var random = new Random(7);
        for (var length = 0; length <= 64; length++)
        {
            var name = new byte[length];
            random.NextBytes(name);
            Assert.Equal(ByteWiseJhash(name), ResourceHash.Compute(name));
        }
    }

    // lookup3 as the spec states it (§1.11): 12-byte blocks of little-endian words, the tail added byte by byte.
    private static uint ByteWiseJhash(byte[] key)
    {
        uint a, b, c;
        a = b = c = 0xDEADBEEF + (uint)key.Length;
        var i = 0;
        for (; key.Length - i > 12; i += 12)
        {
            a += BitConverter.ToUInt32(key, i);
            b += BitConverter.ToUInt32(key, i + 4);
            c += BitConverter.ToUInt32(key, i + 8);
            a -= c; a ^= uint.RotateLeft(c, 4); c += b;
            b -= a; b ^= uint.RotateLeft(a, 6); a += c;
            c -= b; c ^= uint.RotateLeft(b, 8); b += a;
            a -= c; a ^= uint.RotateLeft(c, 16); c += b;
            b -= a; b ^= uint.RotateLeft(a, 19); a += c;
            c -= b; c ^= uint.RotateLeft(b, 4); b += a;
        }

        if (i == key.Length)
        {
            return c;
        }

        for (var j = 0; i + j < key.Length; j++)
        {
            var value = (uint)key[i + j] << (8 * (j % 4));
            switch (j / 4)
            {
                case 0: a += value; break;
                case 1: b += value; break;
                default: c += value; break;
            }
        }

        c ^= b; c -= uint.RotateLeft(b, 14);
        a ^= c; a -= uint.RotateLeft(c, 11);
        b ^= a; b -= uint.RotateLeft(a, 25);
        c ^= b; c -= uint.RotateLeft(b, 16);
        a ^= c; a -= uint.RotateLeft(c, 4);
        b ^= a; b -= uint.RotateLeft(a, 14);
        c ^= b; c -= uint.RotateLeft(b, 24);
        return c;
    }

    [Theory]
    [InlineData("", 0xDEADBEEFu)]
    [InlineData("a", 0x58D68708u)]
    [InlineData("foo", 0xE18F6896u)]
    [InlineData("abcdefghijkl", 0x4012F87Bu)]
    [InlineData("abcdefghijklm", 0x928128F9u)]
    [InlineData("Four score and seven years ago", 0x17770551u)]
    public void ResourceHash_SpecVectors_Match(string name, uint expected) =>
        Assert.Equal(expected, ResourceHash.Compute(Encoding.ASCII.GetBytes(name)));

    [Fact]
    public void ResourceHash_Lookup3InitialValue1_MatchesReference() =>
        Assert.Equal(0xCD628161u, ResourceHash.Compute("Four score and seven years ago"u8, 1));

    [Theory]
    [InlineData("mylockspace", 0x626EE4A9u)]
    [InlineData("gfs2", 0xE4F48A18u)]
    [InlineData("clvmd", 0x4104EEFAu)]
    [InlineData("lvm_global", 0x12AABD2Du)]
    public void LockspaceId_SpecVectors_Match(string name, uint expected) =>
        Assert.Equal(expected, LockspaceId.Compute(name));

    [Fact]
    public void LockspaceId_StandardCrc32CheckValue_Matches() =>
        Assert.Equal(0xCBF43926u, LockspaceId.Crc32("123456789"u8));

    [Theory]
    [InlineData("")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123X")]
    public void LockspaceId_NameOutside1To64Bytes_Throws(string name) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => LockspaceId.Compute(name));

    [Fact]
    public void NamesReply_BothMarkers_RoundTrip()
    {
        var payload = new byte[WireLimits.NamesReplyCapacity];
        var writer = new NamesWriter(payload);
        Assert.True(writer.TryAdd("alpha"u8));
        Assert.True(writer.TryAdd("b"u8));
        Assert.Equal(WireLimits.NamesReplyCapacity, writer.Complete(endOfList: false));
        // Big-endian length prefix (spec §1.1).
        Assert.Equal([0x00, 0x05, (byte)'a'], payload[..3]);

        var message = new byte[WireLimits.MaxMessageLength];
        var n = PacketWriter.WriteWrappedRcom(message, 9, Vectors.MyLockspace, 2,
            new RcomHeader(RcomType.NamesReply, 0, 77, 3, 4), payload);
        Assert.Equal(WireLimits.MaxMessageLength, n);

        var p = PacketDecoder.Decode(message);
        var reader = new NamesReader(p.Extra);
        Assert.Equal(NamesRecord.Name, reader.Next(out var first));
        Assert.Equal("alpha"u8.ToArray(), first.ToArray());
        Assert.Equal(NamesRecord.Name, reader.Next(out var second));
        Assert.Equal("b"u8.ToArray(), second.ToArray());
        Assert.Equal(NamesRecord.EndOfChunk, reader.Next(out _));

        var end = new byte[8];
        var endWriter = new NamesWriter(end);
        endWriter.Complete(endOfList: true);
        Assert.Equal(NamesRecord.EndOfList, new NamesReader(end).Next(out _));
        Assert.Equal([0xFF, 0xFF, 0, 0, 0, 0, 0, 0], end);
    }

    [Fact]
    public void NamesWriter_FullPayload_KeepsRoomForTerminator()
    {
        var payload = new byte[2 + 64 + 2];
        var writer = new NamesWriter(payload);
        Assert.True(writer.TryAdd(new byte[64]));
        Assert.False(writer.TryAdd("x"u8));
        writer.Complete(endOfList: true);
        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16BigEndian(payload.AsSpan(66)));
    }

    [Fact]
    public void RcomLock_WithValueBlock_ExactLayout()
    {
        var rl = new RcomLock
        {
            OwnerPid = 77, LockId = 0x11, RemoteId = 0, ExFlags = LockFlags.ValBlk, Flags = SharedLockFlags.None,
            LvbSeq = 9, Result = 0, RequestedMode = LockMode.Invalid, GrantedMode = LockMode.ProtectedRead,
            Status = QueueStatus.Granted, Asts = AstFlags.Blocking, WaitType = (ushort)MessageType.Convert,
        };
        var lvb = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
        var payload = new byte[WireLimits.RcomLockSize + 32];
        Assert.Equal(140, rl.Write(payload, "res"u8, lvb));

        Assert.Equal(0xFF, payload[36]);          // rl_rqmode IV as int8
        Assert.Equal(3, payload[37]);             // rl_grmode PR
        Assert.Equal(2, payload[38]);             // rl_status GRANTED
        Assert.Equal(2, payload[39]);             // rl_asts bast
        Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(payload.AsSpan(40)));
        Assert.Equal(3, BinaryPrimitives.ReadUInt16LittleEndian(payload.AsSpan(42)));
        Assert.Equal("res"u8.ToArray(), payload[44..47]);
        Assert.All(payload[47..108], b => Assert.Equal(0, b));
        Assert.Equal(lvb, payload[108..]);

        var message = new byte[300];
        var n = PacketWriter.WriteWrappedRcom(message, 1, 0x1234, 3, new RcomHeader(RcomType.Lock, 0, 0xABCDEF, 12, 0), payload);
        Assert.Equal(24 + 48 + 108 + 32, n);
        var p = PacketDecoder.Decode(message.AsSpan(0, n));
        var decoded = RcomLock.Read(p.Extra);
        Assert.Equal(rl with { NameLength = 3 }, decoded);
        Assert.Equal("res"u8.ToArray(), RcomLock.NameOf(p.Extra).ToArray());
        Assert.Equal(lvb, RcomLock.ValueBlockOf(p.Extra).ToArray());
    }

    [Fact]
    public void Opts_NonZeroOptionLength_InnerFoundAfterOptions()
    {
        // An envelope carrying one 8-byte TLV option {type 1, length 0, pad} before the inner FIN.
        var bytes = new byte[24 + 8 + 16];
        new DlmHeader(ProtocolVersion.V32, 42, 7, (ushort)bytes.Length, DlmCommand.Opts).Write(bytes);
        new OptsHeader(DlmCommand.Fin, 8).Write(bytes);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(24), 1);
        new DlmHeader(ProtocolVersion.V32, 0, 7, 16, DlmCommand.Fin).Write(bytes.AsSpan(32));

        Assert.True(PacketDecoder.TryDecode(bytes, out var p, out var error), error.ToString());
        Assert.Equal(8, p.Options.Length);
        Assert.Equal(DlmCommand.Fin, p.Kind);
        Assert.Equal(42u, p.Header.Sequence);
        Assert.Equal(16, p.InnerBytes.Length);
    }

    [Fact]
    public void WrappedFin_Layout_Is40Bytes()
    {
        var bytes = new byte[40];
        Assert.Equal(40, PacketWriter.WriteWrappedFin(bytes, 3, 2));
        Assert.Equal(Vectors.Hex(
            "02 00 03 00 03 00 00 00 02 00 00 00 28 00 03 00 05 00 00 00 00 00 00 00 02 00 03 00 00 00 00 00 02 00 00 00 10 00 05 00"), bytes);
    }

    [Fact]
    public void StatusReply_WithSlots_ParsesFromNumSlots()
    {
        var payload = new byte[32 + (2 * 16) + 16]; // one spare slot's worth, as §9.1.5 allows
        new RcomConfig(32, 0, 0, 1, 2, 7).Write(payload);
        new RcomSlot(1, 1).Write(payload.AsSpan(32));
        new RcomSlot(2, 2).Write(payload.AsSpan(48));
        var message = new byte[200];
        var n = PacketWriter.WriteRcom(message, 0x55, 1, new RcomHeader(RcomType.StatusReply, 0x1, 5, 6, 7), payload);

        var p = PacketDecoder.Decode(message.AsSpan(0, n));
        var config = RcomConfig.Read(p.Extra);
        Assert.Equal(new RcomConfig(32, 0, 0, 1, 2, 7), config);
        Assert.Equal(new RcomSlot(2, 2), RcomConfig.ReadSlot(p.Extra, 1));
        Assert.Equal(new RcomHeader(RcomType.StatusReply, 1, 5, 6, 7), p.Rcom);
    }

    [Fact]
    public void DirectoryNodes_WeightedAscendingArray_PicksByUpperHashBits()
    {
        var dir = new DirectoryNodes([new(3, 1), new(1, 2), new(2, 0)]);
        Assert.Equal(3, dir.TotalWeight);                 // [1, 1, 3]
        Assert.Equal(1, dir.NodeFor(0x0000_FFFF));        // index 0
        Assert.Equal(1, dir.NodeFor(0x0001_0000));        // index 1
        Assert.Equal(3, dir.NodeFor(0x0002_0000));        // index 2
        Assert.Equal(1, dir.NodeFor(0x0003_0000));        // index 0 again

        var unweighted = new DirectoryNodes([new(5, 0), new(9, 0)]);
        Assert.Equal(2, unweighted.TotalWeight);
        Assert.Equal(9, unweighted.NodeFor(0x0001_0000));

        Assert.Equal(4, new DirectoryNodes([new(4, 3)]).NodeFor(0xFFFF_FFFF));
        Assert.Throws<ArgumentException>(() => new DirectoryNodes([]));
        Assert.Throws<ArgumentException>(() => new DirectoryNodes([new(0, 1)]));
    }
}

public sealed class LayoutTests
{
    [Fact]
    public void DlmMessage_InMemory_Is72BytesInWireOrder() =>
        Assert.Equal(WireLimits.MessageSize - WireLimits.HeaderSize, System.Runtime.CompilerServices.Unsafe.SizeOf<DlmMessage>());
}
