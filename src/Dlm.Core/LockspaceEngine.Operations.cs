using Dlm.Protocol;

namespace Dlm.Core;

public sealed partial class LockspaceEngine
{
    /// <summary>
    /// Requests a new lock (spec §4.9 request). Returns the lock and 0 when granted, -EAGAIN when
    /// NOQUEUE and not grantable (the lock is not held), -DLM_ECANCEL when <paramref name="cancellationToken"/>
    /// cancelled it while it waited (not held either). With VALBLK the lock gets an LVB buffer.
    /// An ORPHAN request is <see cref="AdoptOrphan"/>. <paramref name="ownerPid"/> is the owner's process id on the
    /// wire (<c>m_pid</c>); 0 means this process.
    /// </summary>
    public ValueTask<(EngineLock Lock, int Result)> RequestAsync(byte[] name, LockMode mode, LockFlags flags = LockFlags.None,
        Action<EngineLock, LockMode>? blocking = null, int ownerPid = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfInvalid(LockArguments.ValidateLock(mode, flags & ~LockFlags.Convert, name.Length));
        if ((flags & LockFlags.Orphan) != 0)
        {
            throw new ArgumentException("An ORPHAN request adopts a held lock and creates none: call AdoptOrphan (spec §4.21).", nameof(flags));
        }

        var request = new NewLock(name, ResourceNames.Hash(name), mode, flags, blocking, ownerPid == 0 ? ThisProcess : ownerPid);
        if (!_running || RequestNow(request, out var result, out var pending) is not { } engineLock)
        {
            return RequestWhenRunningAsync(request, cancellationToken);
        }

        // Granted or refused at once: no state machine (the uncontended local path, docs/performance.md).
        return pending is null ? new((engineLock, result)) : CompletionAsync(engineLock, pending, cancellationToken);
    }

    private async ValueTask<(EngineLock Lock, int Result)> RequestWhenRunningAsync(NewLock request, CancellationToken cancellationToken)
    {
        while (true)
        {
            await WaitUntilRunningAsync(cancellationToken).ConfigureAwait(false);
            if (RequestNow(request, out var result, out var pending) is { } engineLock)
            {
                return pending is null ? (engineLock, result) : (engineLock, await WaitAsync(engineLock, pending, cancellationToken).ConfigureAwait(false));
            }
        }
    }

    private static async ValueTask<(EngineLock Lock, int Result)> CompletionAsync(EngineLock engineLock, TaskCompletionSource<int> pending,
        CancellationToken cancellationToken) => (engineLock, await WaitAsync(engineLock, pending, cancellationToken).ConfigureAwait(false));

    // Under the shard lock: the request made (granted, refused, queued or sent), or null while the lockspace is stopped.
    private EngineLock? RequestNow(in NewLock request, out int result, out TaskCompletionSource<int>? pending)
    {
        var shard = ShardOf(request.Hash);
        pending = null;
        var outgoing = new Outgoing();
        using (shard.Lock.EnterScope())
        {
            if (!_running)
            {
                result = 0;
                return null;
            }

            ThrowIfFenced();
            var resource = Acquire(shard, new HashedName(request.Name, request.Hash)); // hashed once for the shard and the dictionary
            var engineLock = new EngineLock(resource, NextLockId(shard), request.Mode, request.Flags, request.Blocking) { OwnerPid = request.OwnerPid };
            if ((request.Flags & LockFlags.ValBlk) != 0)
            {
                engineLock.ValueBlock = new byte[LvbLength];
            }

            if (!KnowMaster(shard, resource, engineLock, ref outgoing))
            {
                result = Errno.InProgress; // waiting for the directory's answer
            }
            else if (!IsLocal(resource))
            {
                result = Errno.InProgress; // waiting for the master's answer
                RequestRemote(engineLock, ref outgoing);
            }
            else
            {
                result = MasterOperations.Request(resource.Rsb, engineLock, shard);
            }

            // Answers complete `Pending` under this shard lock, so it is set before any can arrive.
            switch (result)
            {
                case Errno.Ok:
                    Completed(engineLock);
                    break;
                case Errno.InProgress:
                    pending = engineLock.Pending = NewOperation();
                    break;
                default:
                    Release(shard, engineLock);
                    break;
            }

            // Sent and queued under the shard lock, so a reply always precedes a later GRANT or BAST
            // for the same lock, and one lock's callbacks keep their order (spec §4.15, §4.18).
            var effects = TakeAll(shard, ref outgoing); // first: it adds to `outgoing`, which Flush takes by value
            Flush(outgoing, effects);
            return engineLock;
        }
    }

    private static readonly int ThisProcess = Environment.ProcessId;

    private readonly record struct NewLock(byte[] Name, uint Hash, LockMode Mode, LockFlags Flags, Action<EngineLock, LockMode>? Blocking, int OwnerPid);

    /// <summary>
    /// Converts a held lock in place (spec §4.9 convert): 0 when granted (down-conversions always),
    /// -EAGAIN (NOQUEUE), -EDEADLK (conversion deadlock; the lock keeps its old mode), -EBUSY when an
    /// operation is in flight, -DLM_ECANCEL when cancelled while queued (the lock keeps its old mode).
    /// </summary>
    public async ValueTask<int> ConvertAsync(EngineLock engineLock, LockMode mode, LockFlags flags = LockFlags.None,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(engineLock);
        var shard = engineLock.Resource.Shard;
        int result;
        TaskCompletionSource<int>? pending = null;
        (EngineLock, LockMode, TaskCompletionSource<int>?)[]? effects = null;
        var outgoing = new Outgoing();
    stopped:
        if (!_running)
        {
            await WaitUntilRunningAsync(cancellationToken).ConfigureAwait(false);
        }

        using (shard.Lock.EnterScope())
        {
            if (!_running)
            {
                goto stopped;
            }

            ThrowIfFenced();
            ThrowIfReleased(engineLock);
            ThrowIfInvalid(LockArguments.ValidateLock(mode, flags | LockFlags.Convert, 0, engineLock.GrantedMode));
            if (engineLock.Pending is not null || engineLock.CancelSent)
            {
                return Errno.Busy; // also while a CANCEL awaits its reply: that reply, or recovery, must not end this conversion
            }

            result = IsLocal(engineLock.Resource)
                ? MasterOperations.Convert(engineLock.Resource.Rsb, engineLock, mode, flags | LockFlags.Convert, shard)
                : ConvertRemote(engineLock, mode, flags | LockFlags.Convert, ref outgoing);
            if (result == Errno.Ok)
            {
                Completed(engineLock);
            }
            else if (result == Errno.InProgress)
            {
                pending = engineLock.Pending = NewOperation();
            }
            else
            {
                engineLock.StatusFlags = engineLock.SbFlags;
            }

            effects = TakeAll(shard, ref outgoing);
            Flush(outgoing, effects);
        }

        return pending is null ? result : await WaitAsync(engineLock, pending, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Unlocks (spec §4.9 unlock; the LVB is written back from PW/EX with VALBLK). Returns
    /// -DLM_EUNLOCK, -EBUSY when an operation is in flight (use FORCEUNLOCK), -ENOENT when already unlocked,
    /// or 0 for a FORCEUNLOCK of a request whose master has not answered yet: the unlock happens when the
    /// answer comes and the request completes with -DLM_EUNLOCK (spec §4.19).
    /// </summary>
    public int Unlock(EngineLock engineLock, LockFlags flags = LockFlags.None)
    {
        ArgumentNullException.ThrowIfNull(engineLock);
        ThrowIfInvalid(LockArguments.ValidateUnlock(flags));
        if ((flags & LockFlags.Cancel) != 0)
        {
            return Cancel(engineLock);
        }

        return UnlockCore(engineLock, flags, deferred: false);
    }

    private int UnlockCore(EngineLock engineLock, LockFlags flags, bool deferred)
    {
        using (engineLock.Resource.Shard.Lock.EnterScope())
        {
            var result = UnlockLocked(engineLock, flags, deferred);
            if (deferred && result == Errno.Busy)
            {
                engineLock.UnlockDeferred = false; // it did not happen (a cancel deferred before it overlaps): it may be asked for again
            }

            return result;
        }
    }

    // The unlock itself, under the lock's shard lock (the purge of orphans holds it already).
    private int UnlockLocked(EngineLock engineLock, LockFlags flags, bool deferred)
    {
        var shard = engineLock.Resource.Shard;
        var outgoing = new Outgoing();
        if (engineLock.Released || (engineLock.UnlockDeferred && !deferred))
        {
            return Errno.NoEntry;
        }

        var interrupted = engineLock.Pending;
        if (interrupted is not null && (flags & LockFlags.ForceUnlock) == 0)
        {
            return Errno.Busy; // before deferring: an unlock reported done must not fail later
        }

        if (!_running && DeferUnlock(engineLock, flags))
        {
            engineLock.UnlockDeferred = true; // done when recovery ends (spec §5.2)
            return Errno.Unlocked;
        }

        if ((!IsLocal(engineLock.Resource) && engineLock.RemoteId == 0) || (engineLock.ResendPending && !engineLock.IsConversion))
        {
            // The request has no answer from its master (or the directory) yet, or is on no master's queues until
            // step 14 re-sends it (spec §5.7): a FORCEUNLOCK is remembered and done when the answer comes, or by
            // step 14; the request then completes with -DLM_EUNLOCK (spec §4.19).
            if ((flags & LockFlags.ForceUnlock) == 0 || engineLock.Overlap == LockFlags.ForceUnlock)
            {
                return Errno.Busy;
            }

            engineLock.Overlap = LockFlags.ForceUnlock; // also over a remembered cancel: the unlock takes it in (the kernel keeps both)
            engineLock.Flags |= flags;
            return Errno.Ok;
        }

        engineLock.Pending = null;
        var result = IsLocal(engineLock.Resource)
            ? MasterOperations.Unlock(engineLock.Resource.Rsb, engineLock, flags, shard)
            : UnlockRemote(engineLock, flags, ref outgoing);
        Release(shard, engineLock);
        var effects = TakeAll(shard, ref outgoing);
        if (interrupted is not null)
        {
            _callbacks.Complete(interrupted, Errno.Unlocked); // the waiting operation ends with the unlock (spec §4.19)
        }

        Flush(outgoing, effects);
        return result;
    }

    /// <summary>
    /// Cancels a queued request or conversion (spec §4.9 cancel): -DLM_ECANCEL (a cancelled request is
    /// no longer held; a cancelled conversion keeps its old mode), or 0 when there was nothing to cancel.
    /// </summary>
    public int Cancel(EngineLock engineLock)
    {
        ArgumentNullException.ThrowIfNull(engineLock);
        var shard = engineLock.Resource.Shard;
        int result;
        TaskCompletionSource<int>? cancelled = null;
        (EngineLock, LockMode, TaskCompletionSource<int>?)[]? effects = null;
        var outgoing = new Outgoing();
        using (shard.Lock.EnterScope())
        {
            if (engineLock.Released || engineLock.Pending is null)
            {
                return Errno.Ok;
            }

            if (engineLock.CancelSent || engineLock.Overlap == LockFlags.Cancel)
            {
                return Errno.Busy; // a cancel is in progress already: no second CANCEL (spec §4.19)
            }

            if (!_running && DeferCancel(engineLock))
            {
                return Errno.InProgress; // cancelled when recovery ends (spec §5.2)
            }

            if (engineLock.ResendPending || (!IsLocal(engineLock.Resource) && engineLock.RemoteId == 0))
            {
                // No answer from the master yet, or step 14 has not re-sent the operation yet (spec §5.7): remember
                // the cancel; the reply, the lookup or step 14 completes it with -DLM_ECANCEL (spec §4.19).
                if (engineLock.Overlap == LockFlags.ForceUnlock)
                {
                    return Errno.Busy; // an unlock is already waiting for the answer
                }

                engineLock.Overlap = LockFlags.Cancel;
                return Errno.InProgress;
            }

            if (!IsLocal(engineLock.Resource))
            {
                // The master answers with CANCEL_REPLY; the waiting operation then ends with -DLM_ECANCEL.
                engineLock.CancelSent = true;
                outgoing.Add(engineLock.Resource.Master, OwnerMessage(MessageType.Cancel, engineLock, engineLock.RemoteId), null);
                Flush(outgoing, null);
                return Errno.InProgress;
            }

            result = MasterOperations.Cancel(engineLock.Resource.Rsb, engineLock, shard);
            if (result == Errno.Cancelled)
            {
                cancelled = engineLock.Pending;
                engineLock.Pending = null;
                if (engineLock.Status == QueueStatus.None)
                {
                    Release(shard, engineLock);
                }
            }

            effects = TakeAll(shard, ref outgoing);
            if (cancelled is not null)
            {
                _callbacks.Complete(cancelled, Errno.Cancelled);
            }

            Flush(outgoing, effects);
        }

        return result;
    }

    // Under the shard lock: CONVERT to the master; a down-conversion completes here at once (no reply, spec §4.9).
    private static int ConvertRemote(EngineLock engineLock, LockMode mode, LockFlags flags, ref Outgoing outgoing)
    {
        var writes = (flags & LockFlags.ValBlk) != 0 && ModeTables.LvbOnGrant(engineLock.GrantedMode, mode) == LvbTransfer.Write;
        engineLock.RequestedMode = mode;
        engineLock.Flags = flags;
        engineLock.SbFlags = StatusBlockFlags.None;
        outgoing.Add(engineLock.Resource.Master, OwnerMessage(MessageType.Convert, engineLock, engineLock.RemoteId), writes ? engineLock.ValueBlock : null);
        if (!ModeTables.IsDownConversion(engineLock.GrantedMode, mode))
        {
            engineLock.Status = QueueStatus.Convert;
            engineLock.AwaitingReply = true;
            return Errno.InProgress;
        }

        engineLock.GrantedMode = mode;
        engineLock.RequestedMode = LockMode.Invalid;
        return Errno.Ok;
    }

    // Under the shard lock: UNLOCK to the master with the LVB when writing from PW/EX (spec §4.14); done when sent.
    private static DlmMessage UnlockMessage(EngineLock engineLock, LockFlags flags)
    {
        engineLock.Flags |= flags; // cumulative (spec §9.1.2)
        return OwnerMessage(MessageType.Unlock, engineLock, engineLock.RemoteId);
    }

    private int UnlockRemote(EngineLock engineLock, LockFlags flags, ref Outgoing outgoing)
    {
        var writes = engineLock.GrantedMode >= LockMode.ProtectedWrite;
        outgoing.Add(engineLock.Resource.Master, UnlockMessage(engineLock, flags), writes ? engineLock.ValueBlock : null);
        _locks.TryRemove(engineLock.Id, out _);
        engineLock.Status = QueueStatus.None;
        return Errno.Unlocked;
    }

    // The closures live in their own methods: captured parameters would otherwise allocate on every call.
    private bool DeferUnlock(EngineLock engineLock, LockFlags flags) => Defer(() => UnlockCore(engineLock, flags, deferred: true));

    private bool DeferCancel(EngineLock engineLock) => Defer(() => Cancel(engineLock));

    private static async ValueTask<int> WaitAsync(EngineLock engineLock, TaskCompletionSource<int> pending, CancellationToken cancellationToken)
    {
        if (!cancellationToken.CanBeCanceled)
        {
            return await pending.Task.ConfigureAwait(false);
        }

        // Cancelling the token cancels the request on the master (spec §4.9) and ends it with -DLM_ECANCEL.
        using var registration = cancellationToken.Register(static state => ((EngineLock)state!).Engine.Cancel((EngineLock)state!), engineLock);
        return await pending.Task.ConfigureAwait(false);
    }

    // Under the shard lock: the operation completed at once.
    private static void Completed(EngineLock engineLock)
    {
        engineLock.StatusFlags = engineLock.SbFlags;
        engineLock.LastCastMode = engineLock.GrantedMode;
        engineLock.LastBastMode = LockMode.Invalid;
    }

    // Under the shard lock: the resource named, created if needed, with one more reference.
    private Resource Acquire(Shard shard, HashedName name)
    {
        if (!shard.Resources.TryGetValue(name, out var resource))
        {
            var key = name.Name.ToArray();
            resource = new Resource(this, key, shard);
            shard.Resources.Add(key, resource);
        }

        resource.References++;
        if (resource.Cached)
        {
            resource.Cached = false;
            shard.Unused--;
        }

        return resource;
    }

    private static void Release(Shard shard, EngineLock engineLock)
    {
        engineLock.Released = true;
        Release(shard, engineLock.Resource);
    }

    // Under the shard lock: a lock is gone. An unused resource stays cached (its LVB is already
    // gone, spec §4.14) until the toss time passes, so the next lock on it costs no allocation (spec §4.17).
    private static void Release(Shard shard, Resource resource)
    {
        if (--resource.References == 0)
        {
            resource.Cached = true;
            resource.UnusedSince = 0; // the sweeper stamps it when it first sees it unused (no clock read here)
            shard.Unused++;
        }
    }

    private static TaskCompletionSource<int> NewOperation() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Released, or unlocked while stopped (done when recovery ends): either way no longer the caller's to use.
    private static void ThrowIfReleased(EngineLock engineLock) =>
        ObjectDisposedException.ThrowIf(engineLock.Released || engineLock.UnlockDeferred, engineLock);

    private static void ThrowIfInvalid(LockArgumentError error)
    {
        if (error != LockArgumentError.None)
        {
            throw new LockArgumentException(error);
        }
    }
}

/// <summary>A lock or unlock call with invalid arguments (spec §4.11); the message says what to change.</summary>
public sealed class LockArgumentException : DlmException
{
    /// <summary>Creates the exception for <paramref name="error"/>.</summary>
    public LockArgumentException(LockArgumentError error) : base(LockArguments.Describe(error)) => Error = error;

    /// <summary>What was wrong.</summary>
    public LockArgumentError Error { get; }
}
