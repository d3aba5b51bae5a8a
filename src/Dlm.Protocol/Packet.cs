using System.Runtime.CompilerServices;

namespace Dlm.Protocol;

/// <summary>
/// One decoded, validated wire message: a view over the caller's bytes. The fixed fields of the
/// body are read when asked for. For a DLM_OPTS envelope, <see cref="Inner"/> and the body
/// describe the wrapped message; otherwise <see cref="Inner"/> equals <see cref="Header"/>.
/// </summary>
public readonly ref struct Packet
{
    private readonly int _innerOffset;

    // Only the span and the inner offset are stored: the headers are read from the bytes when asked
    // for. Building them into this struct field by field and copying it out as a whole stalled the
    // receive path on store forwarding (narrow stores read back by one wide load), about 8 % of its CPU.
    internal Packet(ReadOnlySpan<byte> bytes, int innerOffset)
    {
        Bytes = bytes;
        _innerOffset = innerOffset;
    }

    /// <summary>The whole message, <c>h_length</c> bytes.</summary>
    public ReadOnlySpan<byte> Bytes { get; }

    /// <summary>The outer header.</summary>
    public DlmHeader Header
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Bytes.IsEmpty ? default : DlmHeader.Read(Bytes);
    }

    /// <summary>True for a DLM_OPTS envelope (a sequenced message, <c>h_seq</c> in <see cref="Header"/>).</summary>
    public bool IsWrapped => _innerOffset != 0; // the inner message starts after the envelope only when there is one

    /// <summary>The envelope fields; default when not wrapped.</summary>
    public OptsHeader Opts => IsWrapped ? OptsHeader.Read(Bytes) : default;

    /// <summary>The TLV option bytes (<c>o_optlen</c> of them; skipped by receivers, spec §1.8).</summary>
    public ReadOnlySpan<byte> Options => IsWrapped ? Bytes[WireLimits.OptsSize.._innerOffset] : default;

    /// <summary>The inner header when wrapped, else the outer header.</summary>
    public DlmHeader Inner
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Bytes.IsEmpty ? default : DlmHeader.Read(Bytes[_innerOffset..]);
    }

    /// <summary>The command of the payload message: MSG, RCOM, FIN or ACK.</summary>
    public DlmCommand Kind
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Bytes.IsEmpty ? default : (DlmCommand)Bytes[_innerOffset + 14];
    }

    /// <summary>The inner message bytes (<see cref="Bytes"/> when not wrapped).</summary>
    public ReadOnlySpan<byte> InnerBytes => Bytes[_innerOffset..];

    /// <summary>The <c>dlm_message</c> fields when <see cref="Kind"/> is <see cref="DlmCommand.Message"/>, else default.</summary>
    public DlmMessage Message => Kind == DlmCommand.Message ? DlmMessage.Read(InnerBytes) : default;

    /// <summary>The <c>dlm_rcom</c> fields when <see cref="Kind"/> is <see cref="DlmCommand.Rcom"/>, else default.</summary>
    public RcomHeader Rcom => Kind == DlmCommand.Rcom ? RcomHeader.Read(InnerBytes) : default;

    /// <summary><c>m_extra</c> (name or LVB) for MSG, <c>rc_buf</c> for RCOM, empty otherwise.</summary>
    public ReadOnlySpan<byte> Extra => Kind switch
    {
        DlmCommand.Message => InnerBytes[WireLimits.MessageSize..],
        DlmCommand.Rcom => InnerBytes[WireLimits.RcomSize..],
        _ => default,
    };
}
