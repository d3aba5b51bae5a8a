namespace Dlm.Protocol;

/// <summary><c>DLM_LKF_*</c> flags, carried in <c>m_exflags</c> and <c>rl_exflags</c> (spec §4.11).</summary>
[Flags]
public enum LockFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>Never queue; fail with -EAGAIN if not grantable now.</summary>
    NoQueue = 0x0000_0001,
    /// <summary>Unlock call only: cancel a pending request or conversion.</summary>
    Cancel = 0x0000_0002,
    /// <summary>Convert an existing lock.</summary>
    Convert = 0x0000_0004,
    /// <summary>Transfer the lock value block.</summary>
    ValBlk = 0x0000_0008,
    /// <summary>Conversion queues behind existing conversions.</summary>
    QueCvt = 0x0000_0010,
    /// <summary>Invalidate the resource LVB instead of writing it.</summary>
    IvValBlk = 0x0000_0020,
    /// <summary>Resolve conversion deadlock by demoting to NL.</summary>
    ConvDeadlk = 0x0000_0040,
    /// <summary>User space only: the lock becomes an orphan at process exit.</summary>
    Persistent = 0x0000_0080,
    /// <summary>Do not fail a conversion deadlock; send a BAST instead.</summary>
    NoDlckWt = 0x0000_0100,
    /// <summary>Defined by the kernel, not implemented.</summary>
    NoDlckBlk = 0x0000_0200,
    /// <summary>Grant a new NL request immediately.</summary>
    Expedite = 0x0000_0400,
    /// <summary>With NOQUEUE: send BASTs to the blockers before failing.</summary>
    NoQueueBast = 0x0000_0800,
    /// <summary>Insert at the head of the waiting or convert queue.</summary>
    HeadQue = 0x0000_1000,
    /// <summary>Grant as soon as compatible, ignoring queue order.</summary>
    NoOrder = 0x0000_2000,
    /// <summary>User space only: adopt an orphan lock.</summary>
    Orphan = 0x0000_4000,
    /// <summary>Try PR if the requested mode is not grantable.</summary>
    AltPr = 0x0000_8000,
    /// <summary>Try CW if the requested mode is not grantable.</summary>
    AltCw = 0x0001_0000,
    /// <summary>Unlock call only: unlock even while waiting or converting.</summary>
    ForceUnlock = 0x0002_0000,
    /// <summary>Deprecated lock timeout (removed in 6.2); no wire effect.</summary>
    Timeout = 0x0004_0000,
}

/// <summary><c>DLM_SBF_*</c> status-block flags, low 8 bits of <c>m_sbflags</c> (spec §4.13).</summary>
[Flags]
public enum StatusBlockFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>Granted mode was demoted to NL to break a conversion deadlock.</summary>
    Demoted = 0x01,
    /// <summary>The resource LVB is invalid.</summary>
    ValNotValid = 0x02,
    /// <summary>Granted in the alternate mode.</summary>
    AltMode = 0x04,
}

/// <summary>Shared lock flags in <c>m_flags</c> / <c>rl_flags</c>; only bits 0-1 are meaningful (spec §9.1.3).</summary>
[Flags]
public enum SharedLockFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>Lock owned by a user-space process.</summary>
    User = 0x1,
    /// <summary>Orphaned user-space lock.</summary>
    Orphan = 0x2,
    /// <summary>The bits receivers honour; pre-6.2 senders put internal flags in the high half.</summary>
    Meaningful = User | Orphan,
}

/// <summary>Bits of <c>m_asts</c> / <c>rl_asts</c> (spec §1.5).</summary>
[Flags]
public enum AstFlags : uint
{
    /// <summary>No callback.</summary>
    None = 0,
    /// <summary>Holder has a completion callback.</summary>
    Completion = 0x1,
    /// <summary>Holder has a blocking callback.</summary>
    Blocking = 0x2,
}

/// <summary>Queue status values in <c>m_status</c> / <c>rl_status</c> (spec §1.5, §1.7.5).</summary>
public enum QueueStatus
{
    /// <summary>On no queue.</summary>
    None = 0,
    /// <summary>Waiting queue.</summary>
    Waiting = 1,
    /// <summary>Granted queue.</summary>
    Granted = 2,
    /// <summary>Convert queue.</summary>
    Convert = 3,
}
