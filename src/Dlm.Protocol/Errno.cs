namespace Dlm.Protocol;

/// <summary>
/// Negative errno values as they travel in <c>m_result</c> (spec §1.6). The kernel canonicalises
/// the codes that differ between CPU architectures to x86 numbering; we use x86 numbering
/// everywhere, so our values are already canonical. RCOM results (<c>rc_result</c>,
/// <c>rl_result</c>) are raw errnos of the sender and are not canonicalised.
/// </summary>
public static class Errno
{
    /// <summary>Success.</summary>
    public const int Ok = 0;
    /// <summary>-ENOENT: unknown lock id.</summary>
    public const int NoEntry = -2;
    /// <summary>-ESRCH: lockspace not here ("not ready" STATUS_REPLY).</summary>
    public const int NoSuchProcess = -3;
    /// <summary>-EAGAIN: NOQUEUE request not grantable.</summary>
    public const int Again = -11;
    /// <summary>-ENOMEM.</summary>
    public const int NoMemory = -12;
    /// <summary>-ENOTBLK: no resource on the master.</summary>
    public const int NotBlock = -15;
    /// <summary>-EBUSY: an operation is in flight.</summary>
    public const int Busy = -16;
    /// <summary>-EEXIST: lock already rebuilt.</summary>
    public const int Exists = -17;
    /// <summary>-EINVAL.</summary>
    public const int Invalid = -22;
    /// <summary>-EDEADLK: conversion deadlock (canonical wire value -35).</summary>
    public const int Deadlock = -35;
    /// <summary>-EBADR: not the master (canonical wire value -53).</summary>
    public const int BadRequest = -53;
    /// <summary>-EBADSLT (canonical wire value -57).</summary>
    public const int BadSlot = -57;
    /// <summary>-EPROTO: protocol or configuration mismatch (canonical wire value -71).</summary>
    public const int Protocol = -71;
    /// <summary>-EOPNOTSUPP (canonical wire value -95).</summary>
    public const int NotSupported = -95;
    /// <summary>-ETIMEDOUT (canonical wire value -110).</summary>
    public const int TimedOut = -110;
    /// <summary>-EINPROGRESS: request queued (canonical wire value -115).</summary>
    public const int InProgress = -115;
    /// <summary>-DLM_ECANCEL: cancel done.</summary>
    public const int Cancelled = -0x10001;
    /// <summary>-DLM_EUNLOCK: unlock done.</summary>
    public const int Unlocked = -0x10002;

    /// <summary>The symbolic name of a result value, or null when it is not one we know.</summary>
    public static string? NameOf(int result) => result switch
    {
        Ok => "0",
        NoEntry => "ENOENT",
        NoSuchProcess => "ESRCH",
        Again => "EAGAIN",
        NoMemory => "ENOMEM",
        NotBlock => "ENOTBLK",
        Busy => "EBUSY",
        Exists => "EEXIST",
        Invalid => "EINVAL",
        Deadlock => "EDEADLK",
        BadRequest => "EBADR",
        BadSlot => "EBADSLT",
        Protocol => "EPROTO",
        NotSupported => "EOPNOTSUPP",
        TimedOut => "ETIMEDOUT",
        InProgress => "EINPROGRESS",
        Cancelled => "DLM_ECANCEL",
        Unlocked => "DLM_EUNLOCK",
        _ => null,
    };
}
