using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Dlm.Protocol;

/// <summary>
/// The <c>dlm_opts</c> fields after the header (spec §1.8):
/// <code>
///  16         17     18          20          24           24+optlen
///  +----------+------+-----------+-----------+------------+----------------+
///  | nextcmd  | pad  | optlen    | pad2      | options... | inner message  |
///  +----------+------+-----------+-----------+------------+----------------+
/// </code>
/// </summary>
/// <param name="NextCommand"><c>o_nextcmd</c>: the inner message's <c>h_cmd</c> (MSG, RCOM or FIN).</param>
/// <param name="OptionsLength"><c>o_optlen</c>: bytes of TLV options; always 0 from senders, skipped by receivers.</param>
public readonly record struct OptsHeader(DlmCommand NextCommand, ushort OptionsLength)
{
    /// <summary>Reads the fields from bytes 16..24 (caller checks the size).</summary>
    public static OptsHeader Read(ReadOnlySpan<byte> opts)
    {
        var o = opts[..WireLimits.OptsSize]; // one length check for both fields
        return new((DlmCommand)o[16], BinaryPrimitives.ReadUInt16LittleEndian(o[18..]));
    }

    /// <summary>Writes bytes 16..24 with zero padding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(Span<byte> opts)
    {
        var o = opts[..WireLimits.OptsSize]; // one length check for the four writes
        o[16] = (byte)NextCommand;
        o[17] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(o[18..], OptionsLength);
        BinaryPrimitives.WriteUInt32LittleEndian(o[20..], 0);
    }
}
