namespace Dlm.Protocol.Tests;

/// <summary>One valid message of every kind, for split, concatenation and mutation tests.</summary>
internal static class Samples
{
    public static IReadOnlyList<byte[]> All { get; } = Build();

    private static List<byte[]> Build()
    {
        var list = new List<byte[]> { Vectors.WorkedExample, Vectors.WorkedExampleAck };
        var buffer = new byte[WireLimits.MaxMessageLength];
        uint seq = 100;
        foreach (var type in Enum.GetValues<MessageType>())
        {
            ReadOnlySpan<byte> extra = MessageTypes.ExtraOf(type) switch
            {
                MessageExtra.Name => "resource/42"u8,
                MessageExtra.ValueBlock => new byte[32],
                _ => [],
            };
            var message = Vectors.WorkedExampleMessage with { Type = type };
            list.Add(buffer[..PacketWriter.WriteWrappedMessage(buffer, seq++, 0xABCD, 3, message, extra)]);
            list.Add(buffer[..PacketWriter.WriteMessage(buffer, 0xABCD, 3, message, extra)]);
        }

        var status = new byte[16];
        new RcomStatus(RcomStatus.NeedSlots).Write(status);
        list.Add(buffer[..PacketWriter.WriteRcom(buffer, 0xABCD, 3, new RcomHeader(RcomType.Status, 0, 1, 2, 0), status)]);

        var config = new byte[32 + 16];
        new RcomConfig(32, 0, 0, 1, 1, 4).Write(config);
        new RcomSlot(3, 1).Write(config.AsSpan(32));
        list.Add(buffer[..PacketWriter.WriteRcom(buffer, 0xABCD, 3, new RcomHeader(RcomType.StatusReply, 7, 1, 2, 2), config)]);

        list.Add(buffer[..PacketWriter.WriteWrappedRcom(buffer, seq++, 0xABCD, 3, new RcomHeader(RcomType.Names, 0, 3, 2, 0), "last"u8)]);

        var names = new byte[WireLimits.NamesReplyCapacity];
        var writer = new NamesWriter(names);
        writer.TryAdd("one"u8);
        writer.TryAdd("two"u8);
        writer.Complete(endOfList: true);
        list.Add(buffer[..PacketWriter.WriteWrappedRcom(buffer, seq++, 0xABCD, 3, new RcomHeader(RcomType.NamesReply, 0, 3, 2, 2), names)]);

        list.Add(buffer[..PacketWriter.WriteWrappedRcom(buffer, seq++, 0xABCD, 3, new RcomHeader(RcomType.Lookup, 0, 5, 2, 0), "res"u8)]);
        list.Add(buffer[..PacketWriter.WriteWrappedRcom(buffer, seq++, 0xABCD, 3, new RcomHeader(RcomType.LookupReply, 2, 5, 2, 2), [])]);

        var rl = new byte[108 + 32];
        new RcomLock { LockId = 9, GrantedMode = LockMode.ProtectedRead, RequestedMode = LockMode.Invalid, Status = QueueStatus.Granted }
            .Write(rl, "res"u8, new byte[32]);
        list.Add(buffer[..PacketWriter.WriteWrappedRcom(buffer, seq++, 0xABCD, 3, new RcomHeader(RcomType.Lock, 0, 6, 2, 0), rl)]);
        list.Add(buffer[..PacketWriter.WriteWrappedRcom(buffer, seq++, 0xABCD, 3, new RcomHeader(RcomType.LockReply, 0, 6, 2, 2), rl.AsSpan(0, 108))]);

        list.Add(buffer[..PacketWriter.WriteWrappedFin(buffer, seq, 3)]);
        return list;
    }
}
