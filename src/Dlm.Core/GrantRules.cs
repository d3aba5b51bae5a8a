using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>The master's grantability test (spec §4.7) and conversion-deadlock detection (§4.8). Pure.</summary>
public static class GrantRules
{
    /// <summary>The eleven rules of spec §4.7, without the deadlock and alternate-mode wrapper.</summary>
    public static bool Rules(Rsb rsb, Lkb lkb, bool now, bool recover)
    {
        var conv = lkb.IsConversion;
        if (lkb.Has(LockFlags.Expedite))
        {
            return true; // 1
        }

        if (ConflictsWith(rsb.Granted, lkb) || ConflictsWith(rsb.Converting, lkb))
        {
            return false; // 2, 3
        }

        if (conv && recover)
        {
            return true; // 4
        }

        if (now && conv)
        {
            return !lkb.Has(LockFlags.QueCvt) || rsb.Converting.Count == 0; // 5, 6
        }

        if (lkb.Has(LockFlags.NoOrder))
        {
            return true; // 7
        }

        if (conv)
        {
            return rsb.Converting.Count > 0 && rsb.Converting[0] == lkb; // 8
        }

        return now
            ? rsb.Converting.Count == 0 && rsb.Waiting.Count == 0 // 9
            : rsb.Converting.Count == 0 && rsb.Waiting.Count > 0 && rsb.Waiting[0] == lkb; // 10
    }

    /// <summary>
    /// The full test (spec §4.7 wrapper): the rules, then for a queueable conversion a deadlock check
    /// (CONVDEADLK demotes to NL and sets DEMOTED; otherwise <paramref name="deadlock"/> is reported),
    /// else ALTPR/ALTCW (the alternate mode is kept with ALTMODE when grantable).
    /// </summary>
    public static bool CanBeGranted(Rsb rsb, Lkb lkb, bool now, bool recover, out bool deadlock)
    {
        deadlock = false;
        if (Rules(rsb, lkb, now, recover))
        {
            return true;
        }

        if (lkb.IsConversion && !lkb.Has(LockFlags.NoQueue) && HasConversionDeadlock(rsb, lkb))
        {
            if (lkb.Has(LockFlags.ConvDeadlk))
            {
                lkb.GrantedMode = LockMode.Null;
                lkb.SbFlags |= StatusBlockFlags.Demoted;
            }
            else
            {
                deadlock = true;
            }

            return false;
        }

        var requested = lkb.RequestedMode;
        var alternate = lkb.Has(LockFlags.AltPr) && requested != LockMode.ProtectedRead ? LockMode.ProtectedRead
            : lkb.Has(LockFlags.AltCw) && requested != LockMode.ConcurrentWrite ? LockMode.ConcurrentWrite
            : LockMode.Invalid;
        if (alternate == LockMode.Invalid)
        {
            return false;
        }

        lkb.RequestedMode = alternate;
        if (Rules(rsb, lkb, now, recover: false))
        {
            lkb.SbFlags |= StatusBlockFlags.AltMode;
            return true;
        }

        lkb.RequestedMode = requested;
        return false;
    }

    /// <summary>
    /// spec §4.8: for each converting lock ahead of <paramref name="lkb"/> (all of them when it is not
    /// queued yet) a deadlock if its requested mode is blocked by our granted mode; for each behind
    /// it, if each blocks the other.
    /// </summary>
    public static bool HasConversionDeadlock(Rsb rsb, Lkb lkb)
    {
        var behind = false;
        foreach (var other in rsb.Converting)
        {
            if (other == lkb)
            {
                behind = true;
                continue;
            }

            var weBlockIt = !ModeTables.Compatible(lkb.GrantedMode, other.RequestedMode);
            if (behind ? weBlockIt && !ModeTables.Compatible(other.GrantedMode, lkb.RequestedMode) : weBlockIt)
            {
                return true;
            }
        }

        return false;
    }

    // spec §4.3: another lock on the queue whose granted mode is incompatible with our requested mode.
    private static bool ConflictsWith(List<Lkb> queue, Lkb lkb)
    {
        foreach (var other in queue)
        {
            if (other != lkb && !ModeTables.Compatible(other.GrantedMode, lkb.RequestedMode))
            {
                return true;
            }
        }

        return false;
    }
}
