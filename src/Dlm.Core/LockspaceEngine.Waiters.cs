using Dlm.Protocol;

namespace Dlm.Core;

public sealed partial class LockspaceEngine
{
    // Operations marked for resend by step 8 and not resent yet. Step 8 clears each one's in-flight state as
    // it marks it, so the mark must outlive a recovery that a newer stop aborts before step 14: the next
    // recovery's step 8 no longer recognises them (the kernel keeps the mark on the lkb, DLM_IFL_RESEND).
    private readonly List<(EngineLock Lock, LockMode Mode, LockFlags Flags)> _resend = [];

    // spec §5.7 step 8: operations waiting for a reply that will not come are marked for resend, or completed.
    private void PrepareWaiters(HashSet<int> removed)
    {
        var resend = new List<(EngineLock, LockMode, LockFlags)>();
        var completions = new List<(TaskCompletionSource<int>, int)>();
        foreach (var (shard, resource) in ActiveResources())
        {
            using (shard.Lock.EnterScope())
            {
                if (resource.AwaitingMaster is { } awaiting)
                {
                    // Waiting for LOOKUP_REPLY: re-done, the directory was rebuilt; one cancelled or force-unlocked
                    // meanwhile completes instead, as the lookup reply would have done (spec §4.19). The one that sent
                    // the LOOKUP stays reachable by id: a directory node that masters the name answered it as a REQUEST
                    // (spec §4.17) and holds a copy, and that answer, saved while we were stopped, is replayed before
                    // step 14 and settles the lock, a cancel or unlock included; without one it is done at step 14.
                    foreach (var waiter in awaiting.Where(w => !w.Released))
                    {
                        waiter.AwaitingReply = false;
                        var sentTheLookup = _locks.TryGetValue(waiter.Id, out var routed) && routed == waiter;
                        if (waiter.Overlap != LockFlags.None && !sentTheLookup)
                        {
                            FinishOverlapped(shard, waiter, completions);
                            continue;
                        }

                        waiter.ResendPending = true;
                        resend.Add((waiter, waiter.RequestedMode, waiter.Flags));
                    }

                    resource.AwaitingMaster = null;
                    resource.LookupInFlight = false;
                }
            }
        }

        foreach (var engineLock in _locks.Values.OfType<EngineLock>().ToArray())
        {
            var resource = engineLock.Resource;
            using (resource.Shard.Lock.EnterScope())
            {
                if (engineLock.Released || !removed.Contains(resource.Master))
                {
                    continue; // its master survives: the reply will come
                }

                if (engineLock.Overlap == LockFlags.ForceUnlock)
                {
                    // Its master left before answering: nothing to unlock there (spec §4.19, §5.7).
                    engineLock.AwaitingReply = engineLock.ResendPending = false; // ended here, not re-sent at step 14
                    FinishOverlapped(resource.Shard, engineLock, completions);
                }
                else if (engineLock.CancelSent || engineLock.Overlap == LockFlags.Cancel)
                {
                    engineLock.CancelSent = engineLock.AwaitingReply = engineLock.ResendPending = false; // ended here, not re-sent
                    engineLock.Overlap = LockFlags.None;
                    Cancelled(resource.Shard, engineLock, completions);
                }
                else if (engineLock.AwaitingReply && !engineLock.IsConversion)
                {
                    engineLock.AwaitingReply = false;
                    engineLock.Status = QueueStatus.None; // not rebuilt: requested again after recovery
                    engineLock.ResendPending = true;
                    resend.Add((engineLock, engineLock.RequestedMode, engineLock.Flags));
                }
                else if (engineLock.AwaitingReply)
                {
                    // An up-conversion without its reply: rebuilt as granted at its mode, re-sent after
                    // recovery (the mainline 7.0 handling of middle conversions, spec §5.7, §9.5.4).
                    engineLock.AwaitingReply = false;
                    engineLock.ResendPending = true;
                    resend.Add((engineLock, engineLock.RequestedMode, engineLock.Flags));
                    engineLock.RequestedMode = LockMode.Invalid;
                    engineLock.Status = QueueStatus.Granted;
                }
            }
        }

        lock (_recovery)
        {
            _resend.AddRange(resend);
        }

        foreach (var (operation, result) in completions)
        {
            _callbacks.Complete(operation, result);
        }
    }

    // spec §5.7 step 14: requests and conversions whose master left are issued again. A stop that comes meanwhile
    // (a newer view) ends it: what is not re-sent yet stays marked for the next recovery, whose step 8 may find
    // their masters gone too (Stop waits for each shard lock, so no lock is re-sent after Stop returns).
    private void ResendWaiters()
    {
        (EngineLock Lock, LockMode Mode, LockFlags Flags)[] resend;
        lock (_recovery)
        {
            resend = [.. _resend];
            _resend.Clear();
        }

        for (var i = 0; i < resend.Length; i++)
        {
            var (engineLock, mode, flags) = resend[i];
            var shard = engineLock.Resource.Shard;
            var outgoing = new Outgoing();
            var completions = new List<(TaskCompletionSource<int>, int)>();
            using (shard.Lock.EnterScope())
            {
                if (!_running)
                {
                    lock (_recovery)
                    {
                        _resend.InsertRange(0, resend[i..]);
                    }

                    return;
                }

                if (engineLock.Released || !engineLock.ResendPending)
                {
                    continue; // gone, or settled by a replayed answer
                }

                engineLock.ResendPending = false;
                if (engineLock.Overlap != LockFlags.None)
                {
                    FinishOverlapped(shard, engineLock, completions); // the LOOKUP's sender, cancelled, with no answer saved
                }
                else if (engineLock.IsConversion)
                {
                    ReissueConversion(shard, engineLock, mode, flags, ref outgoing, completions);
                }
                else
                {
                    engineLock.RequestedMode = mode;
                    engineLock.Flags = flags;
                    if (KnowMaster(shard, engineLock.Resource, engineLock, ref outgoing))
                    {
                        RequestOnMaster(shard, engineLock, ref outgoing, completions);
                    }
                }

                var effects = TakeAll(shard, ref outgoing);
                foreach (var (operation, result) in completions)
                {
                    _callbacks.Complete(operation, result);
                }

                Flush(outgoing, effects);
            }
        }
    }

    private void ReissueConversion(Shard shard, EngineLock engineLock, LockMode mode, LockFlags flags, ref Outgoing outgoing,
        List<(TaskCompletionSource<int>, int)> completions)
    {
        if (!IsLocal(engineLock.Resource))
        {
            ConvertRemote(engineLock, mode, flags, ref outgoing);
            return;
        }

        var result = MasterOperations.Convert(engineLock.Resource.Rsb, engineLock, mode, flags, shard);
        if (result == Errno.InProgress)
        {
            return;
        }

        if (result == Errno.Ok)
        {
            Completed(engineLock);
        }

        if (engineLock.Pending is { } pending)
        {
            engineLock.Pending = null;
            completions.Add((pending, result));
        }
    }
}
