using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Dlm.Protocol;

/// <summary>
/// The common 16-byte header (spec §1.2).
/// <code>
///  0      4              8          12       14     15
///  +------+--------------+----------+--------+------+-----+
///  | ver  | ls id / seq  | nodeid   | length | cmd  | pad |
///  +------+--------------+----------+--------+------+-----+
/// </code>
/// </summary>
/// <param name="Version"><c>h_version</c>.</param>
/// <param name="LockspaceOrSeq"><c>h_lockspace</c> (MSG, RCOM) or <c>h_seq</c> (OPTS, ACK); 0 for FIN.</param>
/// <param name="NodeId"><c>h_nodeid</c>: the sender.</param>
/// <param name="Length"><c>h_length</c>: the whole message, header included.</param>
/// <param name="Command"><c>h_cmd</c>.</param>
public readonly record struct DlmHeader(uint Version, uint LockspaceOrSeq, int NodeId, ushort Length, DlmCommand Command)
{
    /// <summary>Offset of <c>h_length</c>, the field the framer reads.</summary>
    public const int LengthOffset = 12;

    /// <summary><c>h_seq</c>, for OPTS and ACK.</summary>
    public uint Sequence => LockspaceOrSeq;

    /// <summary><c>h_lockspace</c>, for MSG and RCOM.</summary>
    public uint LockspaceId => LockspaceOrSeq;

    /// <summary>Reads a header from the first 16 bytes of <paramref name="source"/> (caller checks the size).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static DlmHeader Read(ReadOnlySpan<byte> source)
    {
        // One length check: the fields' offsets are then known to fit and the JIT drops their checks
        // (each header read on the receive path cost five).
        var h = source[..WireLimits.HeaderSize];
        return new(
            BinaryPrimitives.ReadUInt32LittleEndian(h),
            BinaryPrimitives.ReadUInt32LittleEndian(h[4..]),
            BinaryPrimitives.ReadInt32LittleEndian(h[8..]),
            BinaryPrimitives.ReadUInt16LittleEndian(h[12..]),
            (DlmCommand)h[14]);
    }

    /// <summary>Writes the header into the first 16 bytes of <paramref name="destination"/>, <c>h_pad</c> = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(Span<byte> destination)
    {
        var h = destination[..WireLimits.HeaderSize]; // one length check, as in Read
        BinaryPrimitives.WriteUInt32LittleEndian(h, Version);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], LockspaceOrSeq);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], NodeId);
        BinaryPrimitives.WriteUInt16LittleEndian(h[12..], Length);
        h[14] = (byte)Command;
        h[15] = 0;
    }
}
