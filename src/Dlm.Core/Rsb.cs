namespace Dlm.Core;

/// <summary>
/// A resource's master copy (spec §4.1): the three queues in their order (spec §4.6) and the
/// resource value block. Not thread-safe: one shard owns it.
/// </summary>
public sealed class Rsb
{
    /// <summary>Creates an empty resource with LVBs of <paramref name="lvbLength"/> bytes.</summary>
    public Rsb(ReadOnlyMemory<byte> name, int lvbLength)
    {
        Name = name;
        LvbLength = lvbLength;
    }

    /// <summary>The resource name (1..64 bytes).</summary>
    public ReadOnlyMemory<byte> Name { get; }

    /// <summary>The lockspace's LVB length.</summary>
    public int LvbLength { get; }

    /// <summary>Granted locks (spec §4.6 insertion order).</summary>
    public List<Lkb> Granted { get; } = [];

    /// <summary>Granted locks waiting to change mode, FIFO (HEADQUE at the head).</summary>
    public List<Lkb> Converting { get; } = [];

    /// <summary>New requests not yet granted, FIFO (HEADQUE at the head).</summary>
    public List<Lkb> Waiting { get; } = [];

    /// <summary>The resource LVB; null until first written (spec §4.14).</summary>
    public byte[]? ValueBlock { get; internal set; }

    /// <summary>Sequence number of the resource LVB.</summary>
    public uint LvbSeq { get; internal set; }

    /// <summary>The resource LVB cannot be trusted (IVVALBLK, or a PW/EX holder died).</summary>
    public bool ValueNotValid { get; internal set; }

    /// <summary>First grant pass after recovery: conversions ignore queue order (spec §4.7 rule 4).</summary>
    public bool RecoverGrant { get; set; }

    /// <summary>True when no lock is on any queue (the LVB is dropped then, spec §4.14).</summary>
    public bool IsUnused => Granted.Count == 0 && Converting.Count == 0 && Waiting.Count == 0;
}
