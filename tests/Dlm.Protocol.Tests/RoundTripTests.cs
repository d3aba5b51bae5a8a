using CsCheck;

namespace Dlm.Protocol.Tests;

/// <summary>Property tests: whatever we encode decodes to the same fields and bytes.</summary>
public sealed class RoundTripTests
{
    private static readonly Gen<LockMode> Mode = Gen.Int[-1, 5].Select(i => (LockMode)i);

    private static readonly Gen<DlmMessage> Message =
        Gen.Select(Gen.Int[1, 14], Gen.UInt.Array[12], Mode, Mode, Mode, Gen.Int[0, 3], Gen.Int)
            .Select(t => new DlmMessage
            {
                Type = (MessageType)t.Item1,
                NodeId = (int)t.Item2[0],
                Pid = (int)t.Item2[1],
                LockId = t.Item2[2],
                RemoteId = t.Item2[3],
                ParentLockId = t.Item2[4],
                ParentRemoteId = t.Item2[5],
                ExFlags = (LockFlags)t.Item2[6],
                SbFlags = (StatusBlockFlags)t.Item2[7],
                Flags = (SharedLockFlags)t.Item2[8],
                LvbSeq = t.Item2[9],
                Hash = t.Item2[10],
                Asts = (AstFlags)t.Item2[11],
                GrantedMode = t.Item3,
                RequestedMode = t.Item4,
                BastMode = t.Item5,
                Status = (QueueStatus)t.Item6,
                Result = t.Item7,
            });

    private static Gen<byte[]> ExtraFor(MessageType type) => MessageTypes.ExtraOf(type) switch
    {
        MessageExtra.Name => Gen.Byte.Array[0, 64],
        MessageExtra.ValueBlock => Gen.Int[0, 8].SelectMany(k => Gen.Byte.Array[k * 8]),
        _ => Gen.Const(Array.Empty<byte>()),
    };

    private static readonly Gen<(DlmMessage Message, byte[] Extra)> MessageWithExtra =
        Message.SelectMany(m => ExtraFor(m.Type).Select(e => (m, e)));

    [Fact]
    public void Message_WrappedAndPlain_RoundTrip()
    {
        Gen.Select(MessageWithExtra, Gen.UInt, Gen.UInt, Gen.Int[1, int.MaxValue], Gen.Bool).Sample(t =>
        {
            var (input, seq, lockspace, node, wrapped) = t;
            var buffer = new byte[WireLimits.MaxMessageLength];
            var n = wrapped
                ? PacketWriter.WriteWrappedMessage(buffer, seq, lockspace, node, input.Message, input.Extra)
                : PacketWriter.WriteMessage(buffer, lockspace, node, input.Message, input.Extra);

            Assert.True(PacketDecoder.TryDecode(buffer.AsSpan(0, n), out var p, out var error), error.ToString());
            Assert.Equal(wrapped, p.IsWrapped);
            Assert.Equal(n, p.Header.Length);
            Assert.Equal(DlmCommand.Message, p.Kind);
            Assert.Equal(lockspace, p.Inner.LockspaceId);
            Assert.Equal(node, p.Inner.NodeId);
            if (wrapped)
            {
                Assert.Equal(seq, p.Header.Sequence);
            }

            Assert.Equal(input.Message, p.Message);
            Assert.True(p.Extra.SequenceEqual(input.Extra));
        });
    }

    private static readonly Gen<RcomHeader> Rcom =
        Gen.Select(Gen.Int[1, 8], Gen.Int, Gen.ULong, Gen.ULong, Gen.ULong)
            .Select(t => new RcomHeader((RcomType)t.Item1, t.Item2, t.Item3, t.Item4, t.Item5));

    private static readonly Gen<RcomLock> Lock =
        Gen.Select(Gen.UInt.Array[9], Mode, Mode, Gen.Int[0, 3], Gen.Int[0, 3], Gen.UShort, Gen.Int[0, 64])
            .Select(t => new RcomLock
            {
                OwnerPid = (int)t.Item1[0], LockId = t.Item1[1], RemoteId = t.Item1[2], ParentLockId = t.Item1[3],
                ParentRemoteId = t.Item1[4], ExFlags = (LockFlags)t.Item1[5], Flags = (SharedLockFlags)t.Item1[6],
                LvbSeq = t.Item1[7], Result = (int)t.Item1[8], RequestedMode = t.Item2, GrantedMode = t.Item3,
                Status = (QueueStatus)t.Item4, Asts = (AstFlags)t.Item5, WaitType = t.Item6, NameLength = (ushort)t.Item7,
            });

    private static Gen<byte[]> PayloadFor(RcomType type) => type switch
    {
        RcomType.Status => Gen.UInt.Select(f => { var b = new byte[16]; new RcomStatus(f).Write(b); return b; }),
        RcomType.StatusReply => Gen.Select(Gen.UInt, Gen.UShort, Gen.Int[0, 20], Gen.UInt).Select(t =>
        {
            var b = new byte[32 + (t.Item3 * 16)];
            new RcomConfig(t.Item1, 0, 0, t.Item2, (ushort)t.Item3, t.Item4).Write(b);
            for (var i = 0; i < t.Item3; i++)
            {
                new RcomSlot(i + 1, (ushort)(i + 1)).Write(b.AsSpan(32 + (16 * i)));
            }

            return b;
        }),
        RcomType.Names or RcomType.Lookup => Gen.Byte.Array[0, 64],
        RcomType.NamesReply => Gen.Byte.Array[1, 64].Array[0, 50].Select(names =>
        {
            var b = new byte[WireLimits.NamesReplyCapacity];
            var w = new NamesWriter(b);
            foreach (var name in names)
            {
                Assert.True(w.TryAdd(name));
            }

            w.Complete(names.Length % 2 == 0);
            return b;
        }),
        RcomType.Lock or RcomType.LockReply => Gen.Select(Lock, Gen.Int[0, 8]).Select(t =>
        {
            var b = new byte[108 + (t.Item2 * 8)];
            t.Item1.Write(b, new byte[t.Item1.NameLength], new byte[t.Item2 * 8]);
            return b;
        }),
        _ => Gen.Const(Array.Empty<byte>()),
    };

    [Fact]
    public void Rcom_EveryType_RoundTrip()
    {
        Gen.Select(Rcom.SelectMany(r => PayloadFor(r.Type).Select(p => (r, p))), Gen.UInt, Gen.Bool).Sample(t =>
        {
            var ((rcom, payload), seq, wrapped) = t;
            var buffer = new byte[WireLimits.MaxMessageLength];
            var n = wrapped
                ? PacketWriter.WriteWrappedRcom(buffer, seq, 0x1234, 2, rcom, payload)
                : PacketWriter.WriteRcom(buffer, 0x1234, 2, rcom, payload);

            Assert.True(PacketDecoder.TryDecode(buffer.AsSpan(0, n), out var p, out var error), error.ToString());
            Assert.Equal(DlmCommand.Rcom, p.Kind);
            Assert.Equal(rcom, p.Rcom);
            Assert.True(p.Extra.SequenceEqual(payload));
        });
    }

    [Fact]
    public void RcomLock_Fields_RoundTrip()
    {
        Lock.Sample(rl =>
        {
            var b = new byte[108];
            rl.Write(b, new byte[rl.NameLength], []);
            Assert.Equal(rl, RcomLock.Read(b));
        });
    }

    [Fact]
    public void AckAndFin_RoundTrip()
    {
        Gen.Select(Gen.UInt, Gen.Int[1, int.MaxValue]).Sample(t =>
        {
            var (seq, node) = t;
            var buffer = new byte[40];
            PacketWriter.WriteAck(buffer, seq, node);
            var ack = PacketDecoder.Decode(buffer.AsSpan(0, 16));
            Assert.Equal((DlmCommand.Ack, seq, node), (ack.Kind, ack.Header.Sequence, ack.Header.NodeId));

            PacketWriter.WriteWrappedFin(buffer, seq, node);
            var fin = PacketDecoder.Decode(buffer);
            Assert.Equal((DlmCommand.Fin, seq, node, 0u), (fin.Kind, fin.Header.Sequence, fin.Inner.NodeId, fin.Inner.LockspaceOrSeq));
        });
    }

    [Fact]
    public void BufferWriter_SameBytesAsSpanWriter()
    {
        MessageWithExtra.Sample(input =>
        {
            var span = new byte[WireLimits.MaxMessageLength];
            var n = PacketWriter.WriteWrappedMessage(span, 9, 8, 7, input.Message, input.Extra);
            var writer = new System.Buffers.ArrayBufferWriter<byte>();
            PacketWriter.WriteWrappedMessage(writer, 9, 8, 7, input.Message, input.Extra);
            Assert.Equal(span[..n], writer.WrittenSpan.ToArray());
        });
    }
}
