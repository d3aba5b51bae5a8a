using System.Buffers.Binary;

namespace Dlm.Protocol;

/// <summary><c>rcom_status</c>, the 16-byte STATUS payload (spec §1.7.2).</summary>
/// <param name="Flags"><c>rs_flags</c>.</param>
public readonly record struct RcomStatus(uint Flags)
{
    /// <summary><c>DLM_RSF_NEED_SLOTS</c>: include the slot table in the reply.</summary>
    public const uint NeedSlots = 0x1;

    /// <summary>True if the sender asks for the slot table.</summary>
    public bool WantsSlots => (Flags & NeedSlots) != 0;

    /// <summary>Reads from a payload of at least 16 bytes.</summary>
    public static RcomStatus Read(ReadOnlySpan<byte> payload) => new(BinaryPrimitives.ReadUInt32LittleEndian(payload));

    /// <summary>Writes 16 bytes, unused fields zero.</summary>
    public void Write(Span<byte> payload)
    {
        payload[..WireLimits.RcomStatusSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(payload, Flags);
    }
}
