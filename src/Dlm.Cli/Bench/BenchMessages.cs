using System.Buffers.Binary;
using Dlm.Protocol;

namespace Dlm.Cli.Bench;

/// <summary>The benchmark's message: a DLM_MSG REQUEST with an 8-byte name, 120 bytes wrapped; the counter rides in m_lkid.</summary>
internal static class BenchMessages
{
    public const uint Lockspace = 0x0B3C_0001;
    public static ReadOnlySpan<byte> Name => "bench/01"u8;

    /// <summary>Bytes on the wire per message when wrapped (24 + 88 + 8).</summary>
    public static int WireLength => WireLimits.OptsSize + WireLimits.MessageSize + Name.Length;

    public static DlmMessage Counted(uint counter, MessageType type = MessageType.Request) => new()
    {
        Type = type,
        LockId = counter,
        GrantedMode = LockMode.Invalid,
        RequestedMode = LockMode.Exclusive,
        Hash = 0x1234_5678,
        Asts = AstFlags.Completion | AstFlags.Blocking,
    };

    /// <summary>A wrapped message as a template for the raw-TCP baseline; <see cref="SetCounter"/> patches m_lkid.</summary>
    public static byte[] Template()
    {
        var bytes = new byte[WireLength];
        PacketWriter.WriteWrappedMessage(bytes, 0, Lockspace, 1, Counted(0), Name);
        return bytes;
    }

    /// <summary>Offset of m_lkid in a wrapped message.</summary>
    public const int CounterOffset = WireLimits.OptsSize + InnerCounterOffset;

    // Offsets of m_type and m_lkid in a DLM_MSG (spec §1.5).
    private const int InnerTypeOffset = 16, InnerCounterOffset = 28;

    public static void SetCounter(Span<byte> message, uint counter) => BinaryPrimitives.WriteUInt32LittleEndian(message[CounterOffset..], counter);

    public static uint GetCounter(ReadOnlySpan<byte> message) => BinaryPrimitives.ReadUInt32LittleEndian(message[CounterOffset..]);

    /// <summary>m_lkid of a DLM_MSG (the inner message of a packet).</summary>
    public static uint GetInnerCounter(ReadOnlySpan<byte> inner) => BinaryPrimitives.ReadUInt32LittleEndian(inner[InnerCounterOffset..]);

    /// <summary>m_type of a DLM_MSG (the inner message of a packet).</summary>
    public static MessageType GetInnerType(ReadOnlySpan<byte> inner) => (MessageType)BinaryPrimitives.ReadUInt32LittleEndian(inner[InnerTypeOffset..]);
}
