using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Dlm.Protocol;

/// <summary>
/// The fixed body of <c>dlm_message</c> (h_cmd = 1): bytes 16..88 after the header (spec §1.5).
/// <c>m_extra</c> (a resource name or an LVB) follows at offset 88 and is kept apart as a span.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct DlmMessage : IEquatable<DlmMessage>
{
    // The fields mirror bytes 16..88 in wire order, so a little-endian host reads them with one copy.
    private MessageType _type;
    private int _nodeId;
    private int _pid;
    private uint _lockId;
    private uint _remoteId;
    private uint _parentLockId;
    private uint _parentRemoteId;
    private LockFlags _exFlags;
    private StatusBlockFlags _sbFlags;
    private SharedLockFlags _flags;
    private uint _lvbSeq;
    private uint _hash;
    private QueueStatus _status;
    private LockMode _grantedMode;
    private LockMode _requestedMode;
    private LockMode _bastMode;
    private AstFlags _asts;
    private int _result;

    /// <summary><c>m_type</c> (offset 16).</summary>
    public MessageType Type { readonly get => _type; set => _type = value; }
    /// <summary><c>m_nodeid</c> (20): informational, meaningful in LOOKUP_REPLY and PURGE.</summary>
    public int NodeId { readonly get => _nodeId; set => _nodeId = value; }
    /// <summary><c>m_pid</c> (24): owner process id.</summary>
    public int Pid { readonly get => _pid; set => _pid = value; }
    /// <summary><c>m_lkid</c> (28): the sender's lock id.</summary>
    public uint LockId { readonly get => _lockId; set => _lockId = value; }
    /// <summary><c>m_remid</c> (32): the receiver's lock id.</summary>
    public uint RemoteId { readonly get => _remoteId; set => _remoteId = value; }
    /// <summary><c>m_parent_lkid</c> (36): always 0.</summary>
    public uint ParentLockId { readonly get => _parentLockId; set => _parentLockId = value; }
    /// <summary><c>m_parent_remid</c> (40): always 0.</summary>
    public uint ParentRemoteId { readonly get => _parentRemoteId; set => _parentRemoteId = value; }
    /// <summary><c>m_exflags</c> (44): the operation's DLM_LKF_* flags.</summary>
    public LockFlags ExFlags { readonly get => _exFlags; set => _exFlags = value; }
    /// <summary><c>m_sbflags</c> (48): DLM_SBF_* flags.</summary>
    public StatusBlockFlags SbFlags { readonly get => _sbFlags; set => _sbFlags = value; }
    /// <summary><c>m_flags</c> (52): shared lock flags; only bits 0-1 are meaningful.</summary>
    public SharedLockFlags Flags { readonly get => _flags; set => _flags = value; }
    /// <summary><c>m_lvbseq</c> (56).</summary>
    public uint LvbSeq { readonly get => _lvbSeq; set => _lvbSeq = value; }
    /// <summary><c>m_hash</c> (60): jhash of the resource name.</summary>
    public uint Hash { readonly get => _hash; set => _hash = value; }
    /// <summary><c>m_status</c> (64): the sender lock's queue.</summary>
    public QueueStatus Status { readonly get => _status; set => _status = value; }
    /// <summary><c>m_grmode</c> (68).</summary>
    public LockMode GrantedMode { readonly get => _grantedMode; set => _grantedMode = value; }
    /// <summary><c>m_rqmode</c> (72).</summary>
    public LockMode RequestedMode { readonly get => _requestedMode; set => _requestedMode = value; }
    /// <summary><c>m_bastmode</c> (76).</summary>
    public LockMode BastMode { readonly get => _bastMode; set => _bastMode = value; }
    /// <summary><c>m_asts</c> (80).</summary>
    public AstFlags Asts { readonly get => _asts; set => _asts = value; }
    /// <summary><c>m_result</c> (84): 0 or a canonical negative errno (spec §1.6).</summary>
    public int Result { readonly get => _result; set => _result = value; }

    /// <summary>Reads the body from bytes 16..88 of a message (caller checks the size).</summary>
    public static DlmMessage Read(ReadOnlySpan<byte> message)
    {
        var b = message.Slice(WireLimits.HeaderSize, WireLimits.MessageSize - WireLimits.HeaderSize);
        if (BitConverter.IsLittleEndian)
        {
            return MemoryMarshal.Read<DlmMessage>(b);
        }

        return new DlmMessage
        {
            Type = (MessageType)BinaryPrimitives.ReadInt32LittleEndian(b),
            NodeId = BinaryPrimitives.ReadInt32LittleEndian(b[4..]),
            Pid = BinaryPrimitives.ReadInt32LittleEndian(b[8..]),
            LockId = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]),
            RemoteId = BinaryPrimitives.ReadUInt32LittleEndian(b[16..]),
            ParentLockId = BinaryPrimitives.ReadUInt32LittleEndian(b[20..]),
            ParentRemoteId = BinaryPrimitives.ReadUInt32LittleEndian(b[24..]),
            ExFlags = (LockFlags)BinaryPrimitives.ReadUInt32LittleEndian(b[28..]),
            SbFlags = (StatusBlockFlags)BinaryPrimitives.ReadUInt32LittleEndian(b[32..]),
            Flags = (SharedLockFlags)BinaryPrimitives.ReadUInt32LittleEndian(b[36..]),
            LvbSeq = BinaryPrimitives.ReadUInt32LittleEndian(b[40..]),
            Hash = BinaryPrimitives.ReadUInt32LittleEndian(b[44..]),
            Status = (QueueStatus)BinaryPrimitives.ReadInt32LittleEndian(b[48..]),
            GrantedMode = (LockMode)BinaryPrimitives.ReadInt32LittleEndian(b[52..]),
            RequestedMode = (LockMode)BinaryPrimitives.ReadInt32LittleEndian(b[56..]),
            BastMode = (LockMode)BinaryPrimitives.ReadInt32LittleEndian(b[60..]),
            Asts = (AstFlags)BinaryPrimitives.ReadUInt32LittleEndian(b[64..]),
            Result = BinaryPrimitives.ReadInt32LittleEndian(b[68..]),
        };
    }

    /// <summary>Writes the body into bytes 16..88 of <paramref name="message"/>.</summary>
    public readonly void Write(Span<byte> message)
    {
        var b = message.Slice(WireLimits.HeaderSize, WireLimits.MessageSize - WireLimits.HeaderSize);
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.Write(b, in this);
            return;
        }

        BinaryPrimitives.WriteInt32LittleEndian(b, (int)Type);
        BinaryPrimitives.WriteInt32LittleEndian(b[4..], NodeId);
        BinaryPrimitives.WriteInt32LittleEndian(b[8..], Pid);
        BinaryPrimitives.WriteUInt32LittleEndian(b[12..], LockId);
        BinaryPrimitives.WriteUInt32LittleEndian(b[16..], RemoteId);
        BinaryPrimitives.WriteUInt32LittleEndian(b[20..], ParentLockId);
        BinaryPrimitives.WriteUInt32LittleEndian(b[24..], ParentRemoteId);
        BinaryPrimitives.WriteUInt32LittleEndian(b[28..], (uint)ExFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[32..], (uint)SbFlags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[36..], (uint)Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(b[40..], LvbSeq);
        BinaryPrimitives.WriteUInt32LittleEndian(b[44..], Hash);
        BinaryPrimitives.WriteInt32LittleEndian(b[48..], (int)Status);
        BinaryPrimitives.WriteInt32LittleEndian(b[52..], (int)GrantedMode);
        BinaryPrimitives.WriteInt32LittleEndian(b[56..], (int)RequestedMode);
        BinaryPrimitives.WriteInt32LittleEndian(b[60..], (int)BastMode);
        BinaryPrimitives.WriteUInt32LittleEndian(b[64..], (uint)Asts);
        BinaryPrimitives.WriteInt32LittleEndian(b[68..], Result);
    }

    /// <inheritdoc/>
    public readonly bool Equals(DlmMessage other) =>
        Type == other.Type && NodeId == other.NodeId && Pid == other.Pid && LockId == other.LockId
        && RemoteId == other.RemoteId && ParentLockId == other.ParentLockId && ParentRemoteId == other.ParentRemoteId
        && ExFlags == other.ExFlags && SbFlags == other.SbFlags && Flags == other.Flags && LvbSeq == other.LvbSeq
        && Hash == other.Hash && Status == other.Status && GrantedMode == other.GrantedMode
        && RequestedMode == other.RequestedMode && BastMode == other.BastMode && Asts == other.Asts && Result == other.Result;

    /// <inheritdoc/>
    public override readonly bool Equals(object? obj) => obj is DlmMessage other && Equals(other);

    /// <inheritdoc/>
    public override readonly int GetHashCode() => HashCode.Combine(Type, LockId, RemoteId, Hash, RequestedMode, Result);

    /// <summary>Field-wise equality.</summary>
    public static bool operator ==(DlmMessage left, DlmMessage right) => left.Equals(right);

    /// <summary>Field-wise inequality.</summary>
    public static bool operator !=(DlmMessage left, DlmMessage right) => !left.Equals(right);
}
