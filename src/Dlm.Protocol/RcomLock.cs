using System.Buffers.Binary;

namespace Dlm.Protocol;

/// <summary>
/// <c>rcom_lock</c>, the LOCK / LOCK_REPLY payload: 108 bytes, then the LVB when the lock has one
/// (spec §1.7.5). The name (<c>rl_name</c>, 64 bytes zero padded) and LVB are kept apart as spans.
/// </summary>
public struct RcomLock : IEquatable<RcomLock>
{
    /// <summary>Offset of <c>rl_name</c>.</summary>
    public const int NameOffset = 44;

    /// <summary><c>rl_ownpid</c> (0).</summary>
    public int OwnerPid { get; set; }
    /// <summary><c>rl_lkid</c> (4): the sender's lock id.</summary>
    public uint LockId { get; set; }
    /// <summary><c>rl_remid</c> (8): 0 in a request, the new master's lock id in a reply.</summary>
    public uint RemoteId { get; set; }
    /// <summary><c>rl_parent_lkid</c> (12): must be 0.</summary>
    public uint ParentLockId { get; set; }
    /// <summary><c>rl_parent_remid</c> (16).</summary>
    public uint ParentRemoteId { get; set; }
    /// <summary><c>rl_exflags</c> (20).</summary>
    public LockFlags ExFlags { get; set; }
    /// <summary><c>rl_flags</c> (24): shared flags.</summary>
    public SharedLockFlags Flags { get; set; }
    /// <summary><c>rl_lvbseq</c> (28).</summary>
    public uint LvbSeq { get; set; }
    /// <summary><c>rl_result</c> (32): raw errno of the sender.</summary>
    public int Result { get; set; }
    /// <summary><c>rl_rqmode</c> (36): signed byte.</summary>
    public LockMode RequestedMode { get; set; }
    /// <summary><c>rl_grmode</c> (37): signed byte.</summary>
    public LockMode GrantedMode { get; set; }
    /// <summary><c>rl_status</c> (38).</summary>
    public QueueStatus Status { get; set; }
    /// <summary><c>rl_asts</c> (39).</summary>
    public AstFlags Asts { get; set; }
    /// <summary><c>rl_wait_type</c> (40): DLM_MSG type of an in-flight operation, 0 if none.</summary>
    public ushort WaitType { get; set; }
    /// <summary><c>rl_namelen</c> (42).</summary>
    public ushort NameLength { get; set; }

    /// <summary>Reads the fixed fields from a payload of at least 108 bytes.</summary>
    public static RcomLock Read(ReadOnlySpan<byte> p) => new()
    {
        OwnerPid = BinaryPrimitives.ReadInt32LittleEndian(p),
        LockId = BinaryPrimitives.ReadUInt32LittleEndian(p[4..]),
        RemoteId = BinaryPrimitives.ReadUInt32LittleEndian(p[8..]),
        ParentLockId = BinaryPrimitives.ReadUInt32LittleEndian(p[12..]),
        ParentRemoteId = BinaryPrimitives.ReadUInt32LittleEndian(p[16..]),
        ExFlags = (LockFlags)BinaryPrimitives.ReadUInt32LittleEndian(p[20..]),
        Flags = (SharedLockFlags)BinaryPrimitives.ReadUInt32LittleEndian(p[24..]),
        LvbSeq = BinaryPrimitives.ReadUInt32LittleEndian(p[28..]),
        Result = BinaryPrimitives.ReadInt32LittleEndian(p[32..]),
        RequestedMode = (LockMode)(sbyte)p[36],
        GrantedMode = (LockMode)(sbyte)p[37],
        Status = (QueueStatus)p[38],
        Asts = (AstFlags)p[39],
        WaitType = BinaryPrimitives.ReadUInt16LittleEndian(p[40..]),
        NameLength = BinaryPrimitives.ReadUInt16LittleEndian(p[42..]),
    };

    /// <summary>The resource name inside a payload whose fields were validated.</summary>
    public static ReadOnlySpan<byte> NameOf(ReadOnlySpan<byte> payload) =>
        payload.Slice(NameOffset, BinaryPrimitives.ReadUInt16LittleEndian(payload[42..]));

    /// <summary>The LVB bytes after the 108-byte structure (empty when absent).</summary>
    public static ReadOnlySpan<byte> ValueBlockOf(ReadOnlySpan<byte> payload) => payload[WireLimits.RcomLockSize..];

    /// <summary>
    /// Writes 108 bytes plus <paramref name="valueBlock"/>; <see cref="NameLength"/> is taken from
    /// <paramref name="name"/>, which is zero padded to 64 bytes.
    /// </summary>
    public readonly int Write(Span<byte> p, ReadOnlySpan<byte> name, ReadOnlySpan<byte> valueBlock)
    {
        if (name.Length > WireLimits.MaxResourceNameLength)
        {
            throw new ArgumentOutOfRangeException(nameof(name), name.Length, "A resource name is at most 64 bytes (spec §1.10).");
        }

        BinaryPrimitives.WriteInt32LittleEndian(p, OwnerPid);
        BinaryPrimitives.WriteUInt32LittleEndian(p[4..], LockId);
        BinaryPrimitives.WriteUInt32LittleEndian(p[8..], RemoteId);
        BinaryPrimitives.WriteUInt32LittleEndian(p[12..], ParentLockId);
        BinaryPrimitives.WriteUInt32LittleEndian(p[16..], ParentRemoteId);
        BinaryPrimitives.WriteUInt32LittleEndian(p[20..], (uint)ExFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(p[24..], (uint)Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(p[28..], LvbSeq);
        BinaryPrimitives.WriteInt32LittleEndian(p[32..], Result);
        p[36] = (byte)(sbyte)RequestedMode;
        p[37] = (byte)(sbyte)GrantedMode;
        p[38] = (byte)Status;
        p[39] = (byte)Asts;
        BinaryPrimitives.WriteUInt16LittleEndian(p[40..], WaitType);
        BinaryPrimitives.WriteUInt16LittleEndian(p[42..], (ushort)name.Length);
        var nameField = p.Slice(NameOffset, WireLimits.MaxResourceNameLength);
        name.CopyTo(nameField);
        nameField[name.Length..].Clear();
        valueBlock.CopyTo(p[WireLimits.RcomLockSize..]);
        return WireLimits.RcomLockSize + valueBlock.Length;
    }

    /// <inheritdoc/>
    public readonly bool Equals(RcomLock other) =>
        OwnerPid == other.OwnerPid && LockId == other.LockId && RemoteId == other.RemoteId
        && ParentLockId == other.ParentLockId && ParentRemoteId == other.ParentRemoteId && ExFlags == other.ExFlags
        && Flags == other.Flags && LvbSeq == other.LvbSeq && Result == other.Result && RequestedMode == other.RequestedMode
        && GrantedMode == other.GrantedMode && Status == other.Status && Asts == other.Asts && WaitType == other.WaitType
        && NameLength == other.NameLength;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is RcomLock other && Equals(other);

    /// <inheritdoc/>
    public override readonly int GetHashCode() => HashCode.Combine(LockId, RemoteId, ExFlags, Result, RequestedMode, GrantedMode);

    /// <summary>Field-wise equality.</summary>
    public static bool operator ==(RcomLock left, RcomLock right) => left.Equals(right);

    /// <summary>Field-wise inequality.</summary>
    public static bool operator !=(RcomLock left, RcomLock right) => !left.Equals(right);
}
