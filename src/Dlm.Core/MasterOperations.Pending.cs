using Dlm.Protocol;

namespace Dlm.Core;

public static partial class MasterOperations
{
    /// <summary>
    /// grant_pending (spec §4.10): grant what became grantable on the CONVERT queue (repeatedly),
    /// then the WAITING queue in order, then send blocking callbacks to granted locks that block
    /// what is still waiting.
    /// </summary>
    public static void GrantPending(Rsb rsb, IGrantEffects effects)
    {
        ArgumentNullException.ThrowIfNull(rsb);
        ArgumentNullException.ThrowIfNull(effects);
        GrantPendingConversions(rsb, effects, out var high, out var cw);
        foreach (var lkb in rsb.Waiting.ToArray())
        {
            if (GrantRules.CanBeGranted(rsb, lkb, now: false, recover: false, out _))
            {
                Grant(rsb, lkb);
                effects.Granted(lkb);
            }
            else
            {
                high = Max(high, lkb.RequestedMode);
                cw |= lkb.RequestedMode == LockMode.ConcurrentWrite;
            }
        }

        if (high == LockMode.Invalid)
        {
            return;
        }

        foreach (var lkb in rsb.Granted.ToArray())
        {
            if (lkb.HasBlockingCallback && RequiresBlocking(lkb, high, cw))
            {
                var mode = cw && high == LockMode.ProtectedRead && lkb.GrantedMode == LockMode.ProtectedRead ? LockMode.ConcurrentWrite : high;
                effects.Blocking(lkb, mode);
                lkb.HighBast = high;
            }
        }
    }

    // spec §4.10 step 1: walk the CONVERT queue until nothing more is granted; a CONVDEADLK demotion
    // restarts the walk once; a deadlocked NODLCKWT lock gets a blocking callback to itself.
    private static void GrantPendingConversions(Rsb rsb, IGrantEffects effects, out LockMode high, out bool cw)
    {
        var restartedForDemotion = false;
        while (true)
        {
            high = LockMode.Invalid;
            cw = false;
            var granted = false;
            var demoted = false;
            foreach (var lkb in rsb.Converting.ToArray())
            {
                var wasDemoted = (lkb.SbFlags & StatusBlockFlags.Demoted) != 0;
                if (GrantRules.CanBeGranted(rsb, lkb, now: false, rsb.RecoverGrant, out var deadlock))
                {
                    Grant(rsb, lkb);
                    effects.Granted(lkb);
                    granted = true;
                    continue;
                }

                demoted |= !wasDemoted && (lkb.SbFlags & StatusBlockFlags.Demoted) != 0;
                if (deadlock)
                {
                    if (lkb.Has(LockFlags.NoDlckWt) && lkb.HighBast < lkb.RequestedMode)
                    {
                        effects.Blocking(lkb, lkb.RequestedMode);
                        lkb.HighBast = lkb.RequestedMode;
                    }

                    continue;
                }

                high = Max(high, lkb.RequestedMode);
                cw |= lkb.RequestedMode == LockMode.ConcurrentWrite;
            }

            if (granted || (demoted && !restartedForDemotion))
            {
                restartedForDemotion |= !granted && demoted;
                continue;
            }

            return;
        }
    }

    // spec §4.10 "Blocking ASTs when a request or conversion is queued": to each lock on the queue
    // (other than the requester) with a blocking callback whose mode blocks the requested one.
    private static void BlockingFor(Lkb requester, List<Lkb> queue, IGrantEffects effects)
    {
        var requested = requester.RequestedMode;
        foreach (var holder in queue.ToArray())
        {
            if (holder == requester || !holder.HasBlockingCallback)
            {
                continue;
            }

            var needed = ModeTables.IsMiddle(holder.GrantedMode, requested)
                ? holder.HighBast < LockMode.Exclusive
                : holder.HighBast < requested && !ModeTables.Compatible(holder.GrantedMode, requested);
            if (needed)
            {
                effects.Blocking(holder, requested);
                holder.HighBast = requested;
            }
        }

    }

    private static bool RequiresBlocking(Lkb holder, LockMode high, bool cw) =>
        holder.GrantedMode == LockMode.ProtectedRead && cw
            ? holder.HighBast < LockMode.Exclusive
            : holder.HighBast < high && !ModeTables.Compatible(holder.GrantedMode, high);

    private static LockMode Max(LockMode a, LockMode b) => a > b ? a : b;
}
