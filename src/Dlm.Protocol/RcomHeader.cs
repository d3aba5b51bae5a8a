using System.Buffers.Binary;

namespace Dlm.Protocol;

/// <summary>
/// The fixed body of <c>dlm_rcom</c> (h_cmd = 2): bytes 16..48 after the header (spec §1.7).
/// <c>rc_buf</c> follows at offset 48 and is kept apart as a span.
/// </summary>
/// <param name="Type"><c>rc_type</c> (16).</param>
/// <param name="Result"><c>rc_result</c> (20): raw errno or status bits; never canonicalised.</param>
/// <param name="Id"><c>rc_id</c> (24): request/reply cookie.</param>
/// <param name="Seq"><c>rc_seq</c> (32): the sender's recovery sequence.</param>
/// <param name="SeqReply"><c>rc_seq_reply</c> (40): in replies, the request's <c>rc_seq</c>.</param>
public readonly record struct RcomHeader(RcomType Type, int Result, ulong Id, ulong Seq, ulong SeqReply)
{
    /// <summary>Reads the body from bytes 16..48 of an rcom (caller checks the size).</summary>
    public static RcomHeader Read(ReadOnlySpan<byte> rcom)
    {
        var b = rcom.Slice(WireLimits.HeaderSize, WireLimits.RcomSize - WireLimits.HeaderSize);
        return new RcomHeader(
            (RcomType)BinaryPrimitives.ReadInt32LittleEndian(b),
            BinaryPrimitives.ReadInt32LittleEndian(b[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(b[24..]));
    }

    /// <summary>Writes the body into bytes 16..48 of <paramref name="rcom"/>.</summary>
    public void Write(Span<byte> rcom)
    {
        var b = rcom.Slice(WireLimits.HeaderSize, WireLimits.RcomSize - WireLimits.HeaderSize);
        BinaryPrimitives.WriteInt32LittleEndian(b, (int)Type);
        BinaryPrimitives.WriteInt32LittleEndian(b[4..], Result);
        BinaryPrimitives.WriteUInt64LittleEndian(b[8..], Id);
        BinaryPrimitives.WriteUInt64LittleEndian(b[16..], Seq);
        BinaryPrimitives.WriteUInt64LittleEndian(b[24..], SeqReply);
    }
}
