using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>
/// A lock as its master sees it (spec §4.1): a local copy or the master copy of a remote owner's
/// lock. Mutated only by the resource's grant logic, under the resource's shard. The engine's
/// <see cref="EngineLock"/> extends it, so a held lock is one object.
/// </summary>
public class Lkb
{
    /// <summary>Creates a lock for <paramref name="id"/> requesting <paramref name="requested"/>.</summary>
    public Lkb(uint id, LockMode requested, LockFlags flags = LockFlags.None, bool hasBlockingCallback = true, int ownerNode = 0)
    {
        Id = id;
        RequestedMode = requested;
        Flags = flags;
        HasBlockingCallback = hasBlockingCallback;
        OwnerNode = ownerNode;
    }

    /// <summary>Lock id on this node.</summary>
    public uint Id { get; }

    /// <summary>0 for a local lock, else the owner node of a master copy.</summary>
    public int OwnerNode { get; }

    // Modes (-1..5, validated on every way in, spec §4.2) and the queue status are kept in single bytes:
    // a lock is allocated per request, and its size is most of what a lock + unlock costs the GC.
    private sbyte _granted = (sbyte)LockMode.Invalid, _requested, _highBast;
    private byte _status;

    /// <summary>Granted mode, IV while never granted.</summary>
    public LockMode GrantedMode { get => (LockMode)_granted; internal set => _granted = (sbyte)value; }

    /// <summary>Requested mode, IV when nothing is pending.</summary>
    public LockMode RequestedMode { get => (LockMode)_requested; internal set => _requested = (sbyte)value; }

    /// <summary>The DLM_LKF_* flags of the current operation.</summary>
    public LockFlags Flags { get; internal set; }

    /// <summary>Queue the lock is on.</summary>
    public QueueStatus Status { get => (QueueStatus)_status; internal set => _status = (byte)value; }

    /// <summary>DLM_SBF_* flags of the current operation (reset when a new one starts, spec §4.13).</summary>
    public StatusBlockFlags SbFlags { get; internal set; }

    /// <summary>Highest mode a blocking callback was sent for since the last grant (spec §4.10).</summary>
    public LockMode HighBast { get => (LockMode)_highBast; internal set => _highBast = (sbyte)value; }

    /// <summary>True if the holder wants blocking callbacks.</summary>
    public bool HasBlockingCallback { get; }

    /// <summary>The lock's copy of the value block (null when it has none).</summary>
    public byte[]? ValueBlock { get; set; }

    /// <summary>Sequence number of the value block copy.</summary>
    public uint LvbSeq { get; internal set; }

    /// <summary>True if a granted mode exists: the operation is a conversion.</summary>
    public bool IsConversion => GrantedMode != LockMode.Invalid;

    internal bool Has(LockFlags flag) => (Flags & flag) != 0;

    /// <inheritdoc/>
    public override string ToString() => $"lkb {Id:x} {LockModes.ShortName(GrantedMode)}->{LockModes.ShortName(RequestedMode)} {Status}";
}
