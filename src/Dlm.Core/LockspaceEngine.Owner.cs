using System.Runtime.CompilerServices;
using Dlm.Protocol;

namespace Dlm.Core;

public sealed partial class LockspaceEngine
{
    // Under the shard lock: true when the lock's resource has a known master (spec §4.17 steps 1-3).
    // Otherwise the lock waits for the master; the first waiter's LOOKUP goes to the directory node.
    private bool KnowMaster(Shard shard, Resource resource, EngineLock engineLock, ref Outgoing outgoing) =>
        _directory is not { } directory || resource.Master != 0 || FindMaster(directory, shard, resource, engineLock, ref outgoing);

    // Out of line (its message locals would widen every request's frame): ask the directory, or be it.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool FindMaster(DirectoryNodes directory, Shard shard, Resource resource, EngineLock engineLock, ref Outgoing outgoing)
    {
        var name = resource.Rsb.Name.Span;
        var directoryNode = directory.NodeFor(ResourceHash.Compute(name));
        if (directoryNode == LocalNodeId)
        {
            resource.Master = DirectoryRecord(shard, name, LocalNodeId);
            return true;
        }

        (resource.AwaitingMaster ??= []).Add(engineLock);
        if (!resource.LookupInFlight)
        {
            resource.LookupInFlight = true;
            _locks[engineLock.Id] = engineLock;
            outgoing.Add(directoryNode, OwnerMessage(MessageType.Lookup, engineLock, 0), resource.Rsb.Name.ToArray(), always: true);
        }

        return false;
    }

    // The directory's record for a name (we are its directory node); the first asker becomes master.
    private static int DirectoryRecord(Shard shard, ReadOnlySpan<byte> name, int asker)
    {
        var records = shard.Directory.GetAlternateLookup<ReadOnlySpan<byte>>();
        if (!records.TryGetValue(name, out var master))
        {
            master = asker;
            shard.Directory[name.ToArray()] = master;
        }

        return master;
    }

    private bool IsLocal(Resource resource) => _directory is null || resource.Master == LocalNodeId;

    internal bool IsLocalMaster(Resource resource) => IsLocal(resource);

    // Under the shard lock: send a REQUEST for a lock whose master is another node (spec §4.18).
    private void RequestRemote(EngineLock engineLock, ref Outgoing outgoing)
    {
        _locks[engineLock.Id] = engineLock;
        engineLock.Status = QueueStatus.Waiting;
        engineLock.AwaitingReply = true;
        outgoing.Add(engineLock.Resource.Master, OwnerMessage(MessageType.Request, engineLock, 0), engineLock.Resource.Rsb.Name.ToArray(), always: true);
    }

    // Under the shard lock, the resource's master known: the request runs here, or goes to the master (spec §4.17-§4.18).
    private void RequestOnMaster(Shard shard, EngineLock engineLock, ref Outgoing outgoing, List<(TaskCompletionSource<int>, int)> completions)
    {
        if (!IsLocal(engineLock.Resource))
        {
            RequestRemote(engineLock, ref outgoing);
            return;
        }

        _locks.TryRemove(engineLock.Id, out _); // a local lock needs no routing by id
        var result = MasterOperations.Request(engineLock.Resource.Rsb, engineLock, shard);
        if (result != Errno.InProgress)
        {
            Finish(shard, engineLock, result, completions);
        }
    }

    private static DlmMessage OwnerMessage(MessageType type, EngineLock engineLock, uint remoteId) => new()
    {
        Type = type,
        NodeId = engineLock.Resource.Master,
        LockId = engineLock.Id,
        RemoteId = remoteId,
        ExFlags = engineLock.Flags,
        Pid = engineLock.OwnerPid,
        Flags = engineLock.IsOrphan ? SharedLockFlags.Orphan : SharedLockFlags.None, // spec §1.5 m_flags, §4.21
        LvbSeq = engineLock.LvbSeq,
        Hash = ResourceHash.Compute(engineLock.Resource.Rsb.Name.Span),
        Status = engineLock.Status,
        GrantedMode = engineLock.GrantedMode,
        RequestedMode = engineLock.RequestedMode,
        BastMode = LockMode.Null,
        Asts = AstFlags.Completion | (engineLock.Blocking is null ? AstFlags.None : AstFlags.Blocking),
    };

    // Owner side of replies, GRANT and BAST (spec §4.18), found by our lock id in m_remid (m_lkid for LOOKUP_REPLY).
    private void ReceiveAsOwner(int from, in DlmMessage message, ReadOnlySpan<byte> extra)
    {
        var ours = message.Type == MessageType.LookupReply ? message.LockId : message.RemoteId;
        if (!_locks.TryGetValue(ours, out var found) || found is not EngineLock engineLock)
        {
            Interlocked.Increment(ref _droppedMessages); // normal in races for GRANT/BAST/replies of finished locks (spec §4.20)
            EngineLog.UnknownLock(_logger, Name, message.Type, from, ours);
            return;
        }

        var resource = engineLock.Resource;
        var shard = resource.Shard;
        var outgoing = new Outgoing();
        (EngineLock, LockMode, TaskCompletionSource<int>?)[]? effects = null;
        var completions = new List<(TaskCompletionSource<int>, int)>();
        using (shard.Lock.EnterScope())
        {
            if (engineLock.Released)
            {
                return;
            }

            if (resource.Master != 0 && from != resource.Master && message.Type != MessageType.LookupReply)
            {
                Interlocked.Increment(ref _droppedMessages); // spec §4.20: replies, GRANT and BAST come from the lock's master
                EngineLog.UnknownLock(_logger, Name, message.Type, from, ours);
                return;
            }

            switch (message.Type)
            {
                case MessageType.LookupReply:
                    MasterFound(shard, resource, message.NodeId > 0 ? message.NodeId : 0, null, ref outgoing, completions);
                    break;
                case MessageType.RequestReply:
                    engineLock.AwaitingReply = false;
                    engineLock.ResendPending = false; // a saved answer replayed after recovery settles the lock (step 8)
                    if (resource.Master == 0 && message.Result is not (Errno.BadRequest or Errno.NotBlock))
                    {
                        MasterFound(shard, resource, from, engineLock, ref outgoing, completions); // the directory node was the master
                    }
                    else if (resource.Master == 0)
                    {
                        // The directory node answered our LOOKUP as a REQUEST but is not the master: look again (below).
                        resource.LookupInFlight = false;
                        resource.AwaitingMaster?.Remove(engineLock);
                    }

                    engineLock.RemoteId = message.LockId;
                    if (engineLock.Overlap == LockFlags.ForceUnlock && message.Result is Errno.Ok or Errno.InProgress)
                    {
                        UnlockOnReply(shard, engineLock, ref outgoing, completions);
                        break;
                    }

                    OnResult(shard, engineLock, message, extra, ref outgoing, completions);
                    if (engineLock.Overlap == LockFlags.Cancel && message.Result == Errno.InProgress)
                    {
                        // Queued on the master while a cancel waited for this reply: send it now (spec §4.19), marked
                        // as sent, so a master failing before its CANCEL_REPLY still ends it as cancelled (§5.7 step 8).
                        outgoing.Add(resource.Master, OwnerMessage(MessageType.Cancel, engineLock, engineLock.RemoteId), null);
                        engineLock.CancelSent = true;
                    }

                    engineLock.Overlap = LockFlags.None;
                    break;
                case MessageType.ConvertReply:
                    engineLock.AwaitingReply = false;
                    OnResult(shard, engineLock, message, extra, ref outgoing, completions);
                    break;
                case MessageType.Grant:
                    GrantedRemotely(engineLock, message, extra, completions);
                    break;
                case MessageType.Bast:
                    shard.Blocking(engineLock, message.BastMode);
                    break;
                case MessageType.CancelReply:
                    engineLock.CancelSent = false;
                    if (message.Result == Errno.Cancelled)
                    {
                        Cancelled(shard, engineLock, completions);
                    }

                    break;
            }

            effects = TakeAll(shard, ref outgoing);
            foreach (var (operation, result) in completions)
            {
                _callbacks.Complete(operation, result);
            }

            Flush(outgoing, effects);
        }
    }

    // The directory answered for a resource (spec §4.17): the requests that waited for its master go to
    // it, or run here; with no master (0) they ask again.
    private void MasterFound(Shard shard, Resource resource, int master, EngineLock? answered, ref Outgoing outgoing,
        List<(TaskCompletionSource<int>, int)> completions)
    {
        resource.LookupInFlight = false;
        resource.Master = master;
        if (resource.AwaitingMaster is { } waiting)
        {
            resource.AwaitingMaster = null;
            RequestWaiting(shard, resource, waiting, answered, ref outgoing, completions);
        }
    }

    // The lookup of a resource ended without a master for the locks behind it: they ask again, in order;
    // a cancelled or force-unlocked one completes instead (spec §4.17, §4.19).
    private void LookAgain(Shard shard, Resource resource, ref Outgoing outgoing, List<(TaskCompletionSource<int>, int)> completions)
    {
        if (resource.LookupInFlight || resource.AwaitingMaster is not { Count: > 0 } waiting)
        {
            return;
        }

        resource.AwaitingMaster = null;
        RequestWaiting(shard, resource, waiting, null, ref outgoing, completions);
    }

    // The locks that waited for the resource's master, in order: each goes to the master when it is known
    // (here or elsewhere); while it is not, the first asks the directory again and the rest wait behind it
    // (spec §4.17). One cancelled or force-unlocked meanwhile completes instead (spec §4.19).
    private void RequestWaiting(Shard shard, Resource resource, List<EngineLock> waiting, EngineLock? answered, ref Outgoing outgoing,
        List<(TaskCompletionSource<int>, int)> completions)
    {
        foreach (var engineLock in waiting)
        {
            if (engineLock == answered || engineLock.Released)
            {
                continue;
            }

            if (engineLock.Overlap != LockFlags.None)
            {
                FinishOverlapped(shard, engineLock, completions);
            }
            else if (KnowMaster(shard, resource, engineLock, ref outgoing))
            {
                RequestOnMaster(shard, engineLock, ref outgoing, completions);
            }
        }
    }

    // REQUEST_REPLY / CONVERT_REPLY results (spec §4.18).
    private void OnResult(Shard shard, EngineLock engineLock, in DlmMessage message, ReadOnlySpan<byte> extra, ref Outgoing outgoing,
        List<(TaskCompletionSource<int>, int)> completions)
    {
        switch (message.Result)
        {
            case Errno.Ok:
                GrantedRemotely(engineLock, message, extra, completions);
                break;
            case Errno.InProgress:
                engineLock.Status = engineLock.IsConversion ? QueueStatus.Convert : QueueStatus.Waiting; // a GRANT follows
                break;
            case Errno.BadRequest or Errno.NotBlock when !engineLock.IsConversion && engineLock.Overlap != LockFlags.None:
                // The cancel or unlock wins; nothing was queued (spec §4.19). The locks that waited behind
                // this one's lookup look again, the first of them asking (spec §4.17).
                FinishOverlapped(shard, engineLock, completions);
                engineLock.Resource.Master = 0;
                LookAgain(shard, engineLock.Resource, ref outgoing, completions);
                break;
            case Errno.BadRequest or Errno.NotBlock when !engineLock.IsConversion:
                // Not the master (any more): forget it and find it again (spec §4.17 step 4).
                engineLock.Resource.Master = 0;
                if (KnowMaster(shard, engineLock.Resource, engineLock, ref outgoing))
                {
                    RequestOnMaster(shard, engineLock, ref outgoing, completions); // we may be the directory node, and so the master
                }

                break;
            default:
                engineLock.RequestedMode = LockMode.Invalid;
                engineLock.StatusFlags = message.SbFlags;
                Finish(shard, engineLock, message.Result, completions);
                break;
        }
    }

    // A remote grant: the granted mode (maybe the alternate one) and, for R-direction VALBLK, the master's LVB (spec §4.14).
    private static void GrantedRemotely(EngineLock engineLock, in DlmMessage message, ReadOnlySpan<byte> lvb, List<(TaskCompletionSource<int>, int)> completions)
    {
        if ((engineLock.Flags & LockFlags.ValBlk) != 0 && engineLock.ValueBlock is not null && !lvb.IsEmpty
            && ModeTables.LvbOnGrant(engineLock.GrantedMode, message.GrantedMode) == LvbTransfer.Return)
        {
            lvb[..Math.Min(lvb.Length, engineLock.ValueBlock.Length)].CopyTo(engineLock.ValueBlock);
            engineLock.LvbSeq = message.LvbSeq;
        }

        engineLock.GrantedMode = message.GrantedMode;
        engineLock.RequestedMode = LockMode.Invalid;
        engineLock.Status = QueueStatus.Granted;
        engineLock.SbFlags = message.SbFlags;
        Completed(engineLock);
        if (engineLock.Pending is { } pending)
        {
            engineLock.Pending = null;
            completions.Add((pending, Errno.Ok));
        }
    }

    private void Cancelled(Shard shard, EngineLock engineLock, List<(TaskCompletionSource<int>, int)> completions)
    {
        engineLock.RequestedMode = LockMode.Invalid;
        if (engineLock.IsConversion)
        {
            engineLock.Status = QueueStatus.Granted;
            if (engineLock.Pending is { } pending)
            {
                engineLock.Pending = null;
                completions.Add((pending, Errno.Cancelled));
            }
        }
        else
        {
            Finish(shard, engineLock, Errno.Cancelled, completions);
        }
    }

    // spec §4.19: the master answered a request that was force-unlocked meanwhile (granted or queued there):
    // the UNLOCK goes now and the request completes with -DLM_EUNLOCK.
    private void UnlockOnReply(Shard shard, EngineLock engineLock, ref Outgoing outgoing,
        List<(TaskCompletionSource<int>, int)> completions)
    {
        engineLock.Overlap = LockFlags.None;
        engineLock.Flags &= ~LockFlags.ValBlk; // the caller never saw the lock: there is no value to write back
        outgoing.Add(engineLock.Resource.Master, UnlockMessage(engineLock, LockFlags.ForceUnlock), null);
        engineLock.Status = QueueStatus.None;
        engineLock.RequestedMode = LockMode.Invalid;
        Finish(shard, engineLock, Errno.Unlocked, completions);
    }

    // spec §4.19: the overlapping cancel or unlock wins before anything was queued on a master.
    private void FinishOverlapped(Shard shard, EngineLock engineLock, List<(TaskCompletionSource<int>, int)> completions)
    {
        var result = engineLock.OverlapResult;
        engineLock.Overlap = LockFlags.None;
        Finish(shard, engineLock, result, completions);
    }

    // A request ended without a lock (refused, cancelled): release it and complete its operation.
    private void Finish(Shard shard, EngineLock engineLock, int result, List<(TaskCompletionSource<int>, int)> completions)
    {
        if (result == Errno.Ok)
        {
            Completed(engineLock);
        }
        else if (!engineLock.IsConversion)
        {
            _locks.TryRemove(engineLock.Id, out _);
            Release(shard, engineLock);
        }

        if (engineLock.Pending is { } pending)
        {
            engineLock.Pending = null;
            completions.Add((pending, result));
        }
    }
}
