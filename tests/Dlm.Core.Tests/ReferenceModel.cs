using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>A lock in the reference model.</summary>
internal sealed class RefLock(uint id, bool hasBlockingCallback)
{
    public uint Id { get; } = id;

    public bool HasBlockingCallback { get; } = hasBlockingCallback;

    public LockMode Gr { get; set; } = LockMode.Invalid;

    public LockMode Rq { get; set; } = LockMode.Invalid;

    public QueueStatus Queue { get; set; }

    public LockFlags Flags { get; set; }

    public LockMode HighBast { get; set; } = LockMode.Null;

    /// <summary>DLM_SBF_DEMOTED of the current request/convert.</summary>
    public bool Demoted { get; set; }

    public bool Has(LockFlags flag) => (Flags & flag) != 0;
}

/// <summary>
/// An independent reference model of one resource on its master, written from spec §4.3, §4.6–§4.10
/// (not from src/): request, convert, unlock, cancel, grant_pending and blocking callbacks. Supports
/// the flags NOQUEUE, CONVDEADLK and QUECVT; no LVBs, no recovery, no ALT modes.
/// </summary>
internal sealed class RefResource
{
    // spec §4.3, index = mode (NL..EX).
    private static readonly string[] CompatRows = ["111111", "111110", "111000", "110100", "110000", "100000"];

    private readonly List<Effect> _effects = [];

    public List<RefLock> Granted { get; } = [];

    public List<RefLock> Convert { get; } = [];

    public List<RefLock> Waiting { get; } = [];

    public IReadOnlyList<Effect> Effects => _effects;

    public void ClearEffects() => _effects.Clear();

    public static bool Compat(LockMode a, LockMode b) =>
        a == LockMode.Invalid || b == LockMode.Invalid || CompatRows[(int)a][(int)b] == '1';

    // ---- spec §4.9 operations ----

    public int Request(RefLock l, LockMode mode, LockFlags flags)
    {
        l.Rq = mode;
        l.Flags = flags;
        l.Demoted = false;
        if (Test(l, now: true, out _))
        {
            Grant(l);
            return Errno.Ok;
        }

        if (!l.Has(LockFlags.NoQueue))
        {
            Append(Waiting, l, QueueStatus.Waiting);
            QueuedBasts(l);
            return Errno.InProgress;
        }

        return Errno.Again;
    }

    public int ConvertLock(RefLock l, LockMode mode, LockFlags flags)
    {
        l.Rq = mode;
        l.Flags = flags;
        l.Demoted = false;
        if (Test(l, now: true, out var deadlock))
        {
            Grant(l);
            GrantPending();
            return Errno.Ok;
        }

        if (deadlock)
        {
            l.Rq = LockMode.Invalid; // stays granted at its old mode
            return Errno.Deadlock;
        }

        if (l.Demoted)
        {
            PendingConversions();
            if (Rules(l, now: true, recover: false))
            {
                Grant(l);
                GrantPending();
                return Errno.Ok;
            }
        }

        if (!l.Has(LockFlags.NoQueue))
        {
            Granted.Remove(l);
            Append(Convert, l, QueueStatus.Convert);
            QueuedBasts(l);
            return Errno.InProgress;
        }

        l.Rq = LockMode.Invalid;
        return Errno.Again;
    }

    public int Unlock(RefLock l)
    {
        QueueOf(l)?.Remove(l);
        l.Queue = QueueStatus.None;
        GrantPending();
        return Errno.Unlocked;
    }

    public int Cancel(RefLock l)
    {
        if (l.Queue == QueueStatus.Convert)
        {
            Convert.Remove(l);
            l.Rq = LockMode.Invalid;
            InsertGranted(l);
        }
        else if (l.Queue == QueueStatus.Waiting)
        {
            Waiting.Remove(l);
            l.Queue = QueueStatus.None;
        }
        else
        {
            return Errno.Ok;
        }

        GrantPending();
        return Errno.Cancelled;
    }

    // ---- spec §4.7 ----

    private bool Rules(RefLock l, bool now, bool recover)
    {
        var conv = l.Gr != LockMode.Invalid;
        if (l.Has(LockFlags.Expedite))
        {
            return true;
        }

        if (Granted.Exists(o => o != l && !Compat(o.Gr, l.Rq)))
        {
            return false;
        }

        if (Convert.Exists(o => o != l && !Compat(o.Gr, l.Rq)))
        {
            return false;
        }

        if (conv && recover)
        {
            return true;
        }

        if (now && conv && !l.Has(LockFlags.QueCvt))
        {
            return true;
        }

        if (now && conv && l.Has(LockFlags.QueCvt))
        {
            return Convert.Count == 0;
        }

        if (l.Has(LockFlags.NoOrder))
        {
            return true;
        }

        if (!now && conv && Convert.Count > 0 && Convert[0] == l)
        {
            return true;
        }

        if (now && !conv && Convert.Count == 0 && Waiting.Count == 0)
        {
            return true;
        }

        return !now && !conv && Convert.Count == 0 && Waiting.Count > 0 && Waiting[0] == l;
    }

    // The wrapper: conversion deadlock (CONVDEADLK demotes) for a queueable conversion.
    private bool Test(RefLock l, bool now, out bool deadlock)
    {
        deadlock = false;
        if (Rules(l, now, recover: false))
        {
            return true;
        }

        if (l.Gr != LockMode.Invalid && !l.Has(LockFlags.NoQueue) && Deadlocked(l))
        {
            if (l.Has(LockFlags.ConvDeadlk))
            {
                l.Gr = LockMode.Null;
                l.Demoted = true;
            }
            else
            {
                deadlock = true;
            }
        }

        return false;
    }

    // spec §4.8.
    private bool Deadlocked(RefLock l2)
    {
        var position = Convert.IndexOf(l2);
        for (var i = 0; i < Convert.Count; i++)
        {
            var l1 = Convert[i];
            if (l1 == l2)
            {
                continue;
            }

            var ahead = position < 0 || i < position;
            var l2BlocksL1 = !Compat(l2.Gr, l1.Rq);
            if (ahead ? l2BlocksL1 : l2BlocksL1 && !Compat(l1.Gr, l2.Rq))
            {
                return true;
            }
        }

        return false;
    }

    // ---- spec §4.10 ----

    private void GrantPending()
    {
        var (high, cw) = PendingConversions();
        foreach (var l in Waiting.ToList())
        {
            if (Test(l, now: false, out _))
            {
                Grant(l);
                _effects.Add(Effect.Granted(l.Id));
            }
            else
            {
                high = (LockMode)Math.Max((int)high, (int)l.Rq);
                cw |= l.Rq == LockMode.ConcurrentWrite;
            }
        }

        if (high == LockMode.Invalid)
        {
            return;
        }

        foreach (var g in Granted.ToList())
        {
            if (!g.HasBlockingCallback)
            {
                continue;
            }

            var send = (g.Gr == LockMode.ProtectedRead && cw && g.HighBast < LockMode.Exclusive)
                || (g.HighBast < high && !Compat(g.Gr, high));
            if (send)
            {
                var mode = cw && high == LockMode.ProtectedRead && g.Gr == LockMode.ProtectedRead ? LockMode.ConcurrentWrite : high;
                _effects.Add(Effect.Blocking(g.Id, mode));
                g.HighBast = high;
            }
        }
    }

    // Step 1: walk the convert queue while something is granted; once more after a demotion.
    private (LockMode High, bool Cw) PendingConversions()
    {
        var restartedForDemotion = false;
        while (true)
        {
            var high = LockMode.Invalid;
            var cw = false;
            var anyGranted = false;
            var anyDemoted = false;
            foreach (var l in Convert.ToList())
            {
                var before = l.Gr;
                if (Test(l, now: false, out var deadlock))
                {
                    Grant(l);
                    _effects.Add(Effect.Granted(l.Id));
                    anyGranted = true;
                    continue;
                }

                anyDemoted |= l.Gr != before;
                if (deadlock)
                {
                    continue; // "pending deadlock": stays queued (no NODLCKWT in this model)
                }

                high = (LockMode)Math.Max((int)high, (int)l.Rq);
                cw |= l.Rq == LockMode.ConcurrentWrite;
            }

            if (anyGranted)
            {
                continue;
            }

            if (anyDemoted && !restartedForDemotion)
            {
                restartedForDemotion = true;
                continue;
            }

            return (high, cw);
        }
    }

    // Blocking callbacks when a request or conversion is queued: to the granted locks.
    private void QueuedBasts(RefLock rq)
    {
        foreach (var g in Granted)
        {
            if (g == rq || !g.HasBlockingCallback)
            {
                continue;
            }

            var middle = (g.Gr == LockMode.ProtectedRead && rq.Rq == LockMode.ConcurrentWrite)
                || (g.Gr == LockMode.ConcurrentWrite && rq.Rq == LockMode.ProtectedRead);
            if ((middle && g.HighBast < LockMode.Exclusive) || (g.HighBast < rq.Rq && !Compat(g.Gr, rq.Rq)))
            {
                _effects.Add(Effect.Blocking(g.Id, rq.Rq));
                g.HighBast = rq.Rq;
            }
        }
    }

    // ---- queues, spec §4.6 ----

    private void Grant(RefLock l)
    {
        QueueOf(l)?.Remove(l);
        l.Gr = l.Rq;
        l.Rq = LockMode.Invalid;
        l.HighBast = LockMode.Null;
        InsertGranted(l);
    }

    private void InsertGranted(RefLock l)
    {
        var at = Granted.FindIndex(o => (int)o.Rq < (int)l.Gr);
        Granted.Insert(at < 0 ? Granted.Count : at, l);
        l.Queue = QueueStatus.Granted;
    }

    private static void Append(List<RefLock> queue, RefLock l, QueueStatus status)
    {
        queue.Add(l);
        l.Queue = status;
    }

    private List<RefLock>? QueueOf(RefLock l) => l.Queue switch
    {
        QueueStatus.Granted => Granted,
        QueueStatus.Convert => Convert,
        QueueStatus.Waiting => Waiting,
        _ => null,
    };
}
