using System.Buffers.Binary;

namespace Dlm.Protocol;

/// <summary><c>rcom_config</c>, the 32-byte STATUS_REPLY payload before the slots (spec §1.7.3).</summary>
/// <param name="LvbLength"><c>rf_lvblen</c>; 0xFFFFFFFF in a "not ready" reply.</param>
/// <param name="LockspaceFlags"><c>rf_lsflags</c>.</param>
/// <param name="Flags"><c>rf_flags</c> (unused, 0).</param>
/// <param name="OurSlot"><c>rf_our_slot</c>: the sender's slot, 0 = none yet.</param>
/// <param name="SlotCount"><c>rf_num_slots</c>: how many <see cref="RcomSlot"/> follow. Parse slots from this, never from h_length (spec §9.1.5).</param>
/// <param name="Generation"><c>rf_generation</c>.</param>
public readonly record struct RcomConfig(uint LvbLength, uint LockspaceFlags, uint Flags, ushort OurSlot, ushort SlotCount, uint Generation)
{
    /// <summary><c>rf_lvblen</c> of a "lockspace not ready" reply.</summary>
    public const uint NotReadyLvbLength = 0xFFFF_FFFF;

    /// <summary>Reads from a payload of at least 32 bytes.</summary>
    public static RcomConfig Read(ReadOnlySpan<byte> payload) => new(
        BinaryPrimitives.ReadUInt32LittleEndian(payload),
        BinaryPrimitives.ReadUInt32LittleEndian(payload[4..]),
        BinaryPrimitives.ReadUInt32LittleEndian(payload[8..]),
        BinaryPrimitives.ReadUInt16LittleEndian(payload[12..]),
        BinaryPrimitives.ReadUInt16LittleEndian(payload[14..]),
        BinaryPrimitives.ReadUInt32LittleEndian(payload[16..]));

    /// <summary>Writes 32 bytes, unused fields zero.</summary>
    public void Write(Span<byte> payload)
    {
        payload[..WireLimits.RcomConfigSize].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(payload, LvbLength);
        BinaryPrimitives.WriteUInt32LittleEndian(payload[4..], LockspaceFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(payload[8..], Flags);
        BinaryPrimitives.WriteUInt16LittleEndian(payload[12..], OurSlot);
        BinaryPrimitives.WriteUInt16LittleEndian(payload[14..], SlotCount);
        BinaryPrimitives.WriteUInt32LittleEndian(payload[16..], Generation);
    }

    /// <summary>Reads slot <paramref name="index"/> from a STATUS_REPLY payload (caller checks <see cref="SlotCount"/>).</summary>
    public static RcomSlot ReadSlot(ReadOnlySpan<byte> payload, int index) =>
        RcomSlot.Read(payload[(WireLimits.RcomConfigSize + (index * WireLimits.RcomSlotSize))..]);
}

/// <summary><c>rcom_slot</c>, 16 bytes each after <c>rcom_config</c> (spec §1.7.3).</summary>
/// <param name="NodeId"><c>ro_nodeid</c>.</param>
/// <param name="Slot"><c>ro_slot</c>.</param>
public readonly record struct RcomSlot(int NodeId, ushort Slot)
{
    /// <summary>Reads 16 bytes.</summary>
    public static RcomSlot Read(ReadOnlySpan<byte> source) => new(
        BinaryPrimitives.ReadInt32LittleEndian(source),
        BinaryPrimitives.ReadUInt16LittleEndian(source[4..]));

    /// <summary>Writes 16 bytes, unused fields zero.</summary>
    public void Write(Span<byte> destination)
    {
        destination[..WireLimits.RcomSlotSize].Clear();
        BinaryPrimitives.WriteInt32LittleEndian(destination, NodeId);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], Slot);
    }
}
