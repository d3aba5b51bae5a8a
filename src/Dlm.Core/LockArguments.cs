using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>Why a lock or unlock call's arguments were refused (spec §4.11 argument validation).</summary>
public enum LockArgumentError
{
    /// <summary>Arguments are valid.</summary>
    None,
    /// <summary>The mode is not NL..EX.</summary>
    InvalidMode,
    /// <summary>A new lock needs a resource name of 1..64 bytes.</summary>
    InvalidName,
    /// <summary>CANCEL and FORCEUNLOCK belong to unlock, not lock.</summary>
    UnlockFlagOnLock,
    /// <summary>QUECVT or CONVDEADLK without CONVERT.</summary>
    ConversionFlagWithoutConvert,
    /// <summary>CONVDEADLK together with NOQUEUE.</summary>
    ConvDeadlkWithNoQueue,
    /// <summary>EXPEDITE with a mode other than NL, or with CONVERT, QUECVT or NOQUEUE.</summary>
    InvalidExpedite,
    /// <summary>NOQUEUEBAST without NOQUEUE.</summary>
    NoQueueBastWithoutNoQueue,
    /// <summary>A QUECVT conversion the §4.4 table does not allow.</summary>
    QueCvtNotAllowed,
    /// <summary>A flag the kernel documents as unimplemented (NODLCKBLK) or removed (TIMEOUT).</summary>
    NotSupported,
    /// <summary>An unlock flag other than CANCEL, VALBLK, IVVALBLK, FORCEUNLOCK.</summary>
    InvalidUnlockFlag,
    /// <summary>CANCEL and FORCEUNLOCK together.</summary>
    CancelWithForceUnlock,
}

/// <summary>The argument checks of <c>dlm_lock</c> / <c>dlm_unlock</c> (spec §4.11), before anything is sent. Pure.</summary>
public static class LockArguments
{
    private const LockFlags UnlockFlags = LockFlags.Cancel | LockFlags.ValBlk | LockFlags.IvValBlk | LockFlags.ForceUnlock;

    /// <summary>
    /// Checks a lock request or conversion. <paramref name="grantedMode"/> is the lock's current mode
    /// for a conversion (needed for the QUECVT table), IV for a new lock.
    /// </summary>
    public static LockArgumentError ValidateLock(LockMode mode, LockFlags flags, int nameLength, LockMode grantedMode = LockMode.Invalid)
    {
        var convert = (flags & LockFlags.Convert) != 0;
        if (!ModeTables.IsMode(mode))
        {
            return LockArgumentError.InvalidMode;
        }

        if (!convert && nameLength is < 1 or > WireLimits.MaxResourceNameLength)
        {
            return LockArgumentError.InvalidName;
        }

        if ((flags & (LockFlags.NoDlckBlk | LockFlags.Timeout)) != 0)
        {
            return LockArgumentError.NotSupported;
        }

        if ((flags & (LockFlags.Cancel | LockFlags.ForceUnlock)) != 0)
        {
            return LockArgumentError.UnlockFlagOnLock;
        }

        if (!convert && (flags & (LockFlags.QueCvt | LockFlags.ConvDeadlk)) != 0)
        {
            return LockArgumentError.ConversionFlagWithoutConvert;
        }

        if ((flags & LockFlags.ConvDeadlk) != 0 && (flags & LockFlags.NoQueue) != 0)
        {
            return LockArgumentError.ConvDeadlkWithNoQueue;
        }

        if ((flags & LockFlags.Expedite) != 0
            && (mode != LockMode.Null || (flags & (LockFlags.Convert | LockFlags.QueCvt | LockFlags.NoQueue)) != 0))
        {
            return LockArgumentError.InvalidExpedite;
        }

        if ((flags & LockFlags.NoQueueBast) != 0 && (flags & LockFlags.NoQueue) == 0)
        {
            return LockArgumentError.NoQueueBastWithoutNoQueue;
        }

        if (convert && (flags & LockFlags.QueCvt) != 0 && !ModeTables.QueCvtAllowed(grantedMode, mode))
        {
            return LockArgumentError.QueCvtNotAllowed;
        }

        return LockArgumentError.None;
    }

    /// <summary>Checks an unlock: only CANCEL, VALBLK, IVVALBLK, FORCEUNLOCK, and not CANCEL with FORCEUNLOCK.</summary>
    public static LockArgumentError ValidateUnlock(LockFlags flags)
    {
        if ((flags & ~UnlockFlags) != 0)
        {
            return LockArgumentError.InvalidUnlockFlag;
        }

        return (flags & LockFlags.Cancel) != 0 && (flags & LockFlags.ForceUnlock) != 0
            ? LockArgumentError.CancelWithForceUnlock
            : LockArgumentError.None;
    }

    /// <summary>A sentence that says what to change.</summary>
    public static string Describe(LockArgumentError error) => error switch
    {
        LockArgumentError.None => "The arguments are valid.",
        LockArgumentError.InvalidMode => "Use one of the six modes NL, CR, CW, PR, PW, EX.",
        LockArgumentError.InvalidName => "A resource name is 1 to 64 bytes.",
        LockArgumentError.UnlockFlagOnLock => "CANCEL and FORCEUNLOCK are unlock options; call unlock or cancel instead.",
        LockArgumentError.ConversionFlagWithoutConvert => "QUECVT and CONVDEADLK apply to conversions only; use them when converting a held lock.",
        LockArgumentError.ConvDeadlkWithNoQueue => "CONVDEADLK resolves deadlocks of queued conversions; it cannot be combined with NOQUEUE.",
        LockArgumentError.InvalidExpedite => "EXPEDITE is for new NL requests only, without CONVERT, QUECVT or NOQUEUE.",
        LockArgumentError.NoQueueBastWithoutNoQueue => "NOQUEUEBAST only changes what NOQUEUE does; add NOQUEUE or drop it.",
        LockArgumentError.QueCvtNotAllowed => "This QUECVT conversion is not allowed (spec §4.4): QUECVT only queues up-conversions.",
        LockArgumentError.NotSupported => "NODLCKBLK is not implemented by the DLM and TIMEOUT was removed in Linux 6.2; drop the flag (use cancellation for timeouts).",
        LockArgumentError.InvalidUnlockFlag => "Unlock accepts only CANCEL, VALBLK, IVVALBLK and FORCEUNLOCK.",
        LockArgumentError.CancelWithForceUnlock => "Use either CANCEL or FORCEUNLOCK, not both.",
        _ => error.ToString(),
    };
}
