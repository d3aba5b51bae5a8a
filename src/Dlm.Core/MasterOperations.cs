using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>
/// The operations on a resource's master (spec §4.9): request, convert, unlock, cancel. Each
/// returns the result for the operation's own completion or reply (0, -EINPROGRESS, -EAGAIN,
/// -EDEADLK, -DLM_EUNLOCK, -DLM_ECANCEL) and reports later grants and blocking callbacks through
/// <see cref="IGrantEffects"/>. Pure: one caller at a time per resource.
/// </summary>
public static partial class MasterOperations
{
    /// <summary>A new lock (spec §4.9 request). <paramref name="lkb"/> carries its requested mode and flags.</summary>
    public static int Request(Rsb rsb, Lkb lkb, IGrantEffects effects)
    {
        ArgumentNullException.ThrowIfNull(rsb);
        ArgumentNullException.ThrowIfNull(lkb);
        ArgumentNullException.ThrowIfNull(effects);
        lkb.SbFlags = StatusBlockFlags.None;
        if (rsb.IsUnused || GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out _)) // nothing held or queued: nothing conflicts (spec §4.7)
        {
            Grant(rsb, lkb);
            return Errno.Ok;
        }

        if (!lkb.Has(LockFlags.NoQueue))
        {
            Enqueue(rsb.Waiting, lkb, QueueStatus.Waiting);
            BlockingFor(lkb, rsb.Granted, effects);
            return Errno.InProgress;
        }

        return Refuse(rsb, lkb, effects);
    }

    /// <summary>
    /// Converts a granted lock to <paramref name="requested"/> with <paramref name="flags"/>
    /// (spec §4.9 convert): granted now, queued, refused (-EAGAIN) or reverted (-EDEADLK).
    /// </summary>
    public static int Convert(Rsb rsb, Lkb lkb, LockMode requested, LockFlags flags, IGrantEffects effects)
    {
        ArgumentNullException.ThrowIfNull(rsb);
        ArgumentNullException.ThrowIfNull(lkb);
        ArgumentNullException.ThrowIfNull(effects);
        if (lkb.Status != QueueStatus.Granted)
        {
            return Errno.Busy;
        }

        lkb.RequestedMode = requested;
        lkb.Flags = flags;
        lkb.SbFlags = StatusBlockFlags.None;
        if (GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out var deadlock))
        {
            Grant(rsb, lkb);
            GrantPending(rsb, effects);
            return Errno.Ok;
        }

        if (deadlock && !lkb.Has(LockFlags.NoDlckWt))
        {
            lkb.RequestedMode = LockMode.Invalid; // reverted: stays granted in its old mode
            return Errno.Deadlock;
        }

        if ((lkb.SbFlags & StatusBlockFlags.Demoted) != 0)
        {
            // CONVDEADLK demoted us to NL: let the others go first, then try once more (rules only).
            GrantPendingConversions(rsb, effects, out _, out _);
            if (GrantRules.Rules(rsb, lkb, now: true, recover: false))
            {
                Grant(rsb, lkb);
                GrantPending(rsb, effects);
                return Errno.Ok;
            }
        }

        if (!lkb.Has(LockFlags.NoQueue))
        {
            rsb.Granted.Remove(lkb);
            Enqueue(rsb.Converting, lkb, QueueStatus.Convert);
            BlockingFor(lkb, rsb.Granted, effects);
            return Errno.InProgress;
        }

        var refused = Refuse(rsb, lkb, effects);
        lkb.RequestedMode = LockMode.Invalid;
        return refused;
    }

    // NOQUEUE and not grantable now: -EAGAIN; with NOQUEUEBAST the granted and converting locks in
    // the way get blocking callbacks first (spec §4.9).
    private static int Refuse(Rsb rsb, Lkb lkb, IGrantEffects effects)
    {
        if (lkb.Has(LockFlags.NoQueueBast))
        {
            BlockingFor(lkb, rsb.Granted, effects);
            BlockingFor(lkb, rsb.Converting, effects);
        }

        return Errno.Again;
    }

    /// <summary>
    /// Unlocks from whatever queue the lock is on (spec §4.9, §9.4.1); writes the LVB back when the
    /// granted mode is PW or EX (spec §4.14). Returns -DLM_EUNLOCK.
    /// </summary>
    public static int Unlock(Rsb rsb, Lkb lkb, LockFlags flags, IGrantEffects effects)
    {
        ArgumentNullException.ThrowIfNull(rsb);
        ArgumentNullException.ThrowIfNull(lkb);
        ArgumentNullException.ThrowIfNull(effects);
        lkb.Flags |= flags; // cumulative on unlock (spec §9.1.2)
        lkb.SbFlags = StatusBlockFlags.None; // a new operation (spec §4.13)
        if (lkb.GrantedMode >= LockMode.ProtectedWrite)
        {
            ValueBlocks.OnUnlock(rsb, lkb);
        }

        Dequeue(rsb, lkb);
        lkb.Status = QueueStatus.None;
        if (rsb.Converting.Count != 0 || rsb.Waiting.Count != 0)
        {
            GrantPending(rsb, effects); // else nothing waits, so nothing to grant or to send a BAST for
        }

        if (rsb.IsUnused)
        {
            rsb.ValueBlock = null; // the resource LVB goes with its last lock (spec §4.14)
            rsb.ValueNotValid = false;
        }

        return Errno.Unlocked;
    }

    /// <summary>
    /// Cancels a queued request or conversion (spec §4.9): a conversion returns to its granted mode,
    /// a waiting request is removed; -DLM_ECANCEL, or 0 when already granted (nothing to cancel).
    /// </summary>
    public static int Cancel(Rsb rsb, Lkb lkb, IGrantEffects effects)
    {
        ArgumentNullException.ThrowIfNull(rsb);
        ArgumentNullException.ThrowIfNull(lkb);
        ArgumentNullException.ThrowIfNull(effects);
        lkb.SbFlags = StatusBlockFlags.None; // a new operation (spec §4.13)
        switch (lkb.Status)
        {
            case QueueStatus.Convert:
                rsb.Converting.Remove(lkb);
                lkb.RequestedMode = LockMode.Invalid;
                AddGranted(rsb, lkb);
                break;
            case QueueStatus.Waiting:
                rsb.Waiting.Remove(lkb);
                lkb.Status = QueueStatus.None;
                break;
            default:
                return Errno.Ok;
        }

        GrantPending(rsb, effects);
        return Errno.Cancelled;
    }

    // spec §4.9/§4.14: LVB per the direction table with the modes before the grant, then the grant.
    internal static void Grant(Rsb rsb, Lkb lkb)
    {
        ValueBlocks.OnGrant(rsb, lkb);
        if (lkb.Status != QueueStatus.None)
        {
            Dequeue(rsb, lkb); // a new request granted at once is on no queue yet
        }

        lkb.GrantedMode = lkb.RequestedMode;
        lkb.RequestedMode = LockMode.Invalid;
        lkb.HighBast = LockMode.Null;
        AddGranted(rsb, lkb);
    }

    // spec §5.8 lock rebuild: a recovered lock goes onto the queue its owner names, in arrival order.
    internal static void AddRecovered(Rsb rsb, Lkb lkb, QueueStatus status)
    {
        switch (status)
        {
            case QueueStatus.Granted:
                AddGranted(rsb, lkb);
                break;
            case QueueStatus.Convert:
                rsb.Converting.Add(lkb);
                lkb.Status = status;
                break;
            default:
                rsb.Waiting.Add(lkb);
                lkb.Status = QueueStatus.Waiting;
                break;
        }
    }

    // spec §4.6: before the first granted entry whose requested mode is lower than the new granted mode.
    private static void AddGranted(Rsb rsb, Lkb lkb)
    {
        var at = 0;
        while (at < rsb.Granted.Count && rsb.Granted[at].RequestedMode >= lkb.GrantedMode)
        {
            at++;
        }

        Insert(rsb.Granted, at, lkb);
        lkb.Status = QueueStatus.Granted;
    }

    private static void Enqueue(List<Lkb> queue, Lkb lkb, QueueStatus status)
    {
        Insert(queue, lkb.Has(LockFlags.HeadQue) ? 0 : queue.Count, lkb);
        lkb.Status = status;
    }

    // List.Insert stores through the Lkb[] it wraps, which for a derived lock (EngineLock, MasterCopy) costs
    // an array-covariance check on every store; a span over that array was checked once, when made.
    private static void Insert(List<Lkb> queue, int at, Lkb lkb)
    {
        var count = queue.Count;
        CollectionsMarshal.SetCount(queue, count + 1);
        var items = CollectionsMarshal.AsSpan(queue);
        if (at < count)
        {
            items[at..count].CopyTo(items[(at + 1)..]);
        }

        items[at] = lkb;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // on every unlock
    private static void Dequeue(Rsb rsb, Lkb lkb)
    {
        var queue = lkb.Status switch
        {
            QueueStatus.Granted => rsb.Granted,
            QueueStatus.Convert => rsb.Converting,
            QueueStatus.Waiting => rsb.Waiting,
            _ => null,
        };
        if (queue is null)
        {
            return;
        }

        for (var i = 0; i < queue.Count; i++)
        {
            if (ReferenceEquals(queue[i], lkb)) // by reference: List.Remove would call Equals on every entry
            {
                queue.RemoveAt(i);
                return;
            }
        }
    }
}
