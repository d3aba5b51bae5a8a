using System.Runtime.CompilerServices;
using Dlm.Protocol;

namespace Dlm.Core;

public sealed partial class LockspaceEngine
{
    /// <summary>Messages from peers dropped: unknown lock ids, a copy owned by another node, types not handled yet.</summary>
    public long DroppedMessages => Interlocked.Read(ref _droppedMessages);

    /// <summary>
    /// A DLM_MSG from <paramref name="from"/> for a resource mastered here (spec §4.9, §4.18 master
    /// side): REQUEST, CONVERT, UNLOCK and CANCEL on master copies, answered through the outbox; later
    /// grants and blocking callbacks of master copies become GRANT and BAST messages.
    /// </summary>
    public void Receive(int from, in DlmMessage message, ReadOnlySpan<byte> extra)
    {
        _receiveGate.EnterReadLock();
        try
        {
            if (_running)
            {
                Dispatch(from, message, extra);
                return;
            }

            // Stopped: saved whole, replayed in arrival order when locking is enabled (spec §5.2, §5.9).
            lock (_requestQueue)
            {
                _requestQueue.Add((from, message, extra.ToArray()));
            }
        }
        finally
        {
            _receiveGate.ExitReadLock();
        }
    }

    private void Dispatch(int from, in DlmMessage message, ReadOnlySpan<byte> extra)
    {
        switch (message.Type)
        {
            case MessageType.Request:
                ReceiveRequest(from, message, extra);
                break;
            case MessageType.Convert:
            case MessageType.Unlock:
            case MessageType.Cancel:
                ReceiveOnCopy(from, message, extra);
                break;
            case MessageType.Lookup:
                ReceiveLookup(from, message, extra);
                break;
            case MessageType.RequestReply:
            case MessageType.ConvertReply:
            case MessageType.CancelReply:
            case MessageType.LookupReply:
            case MessageType.Grant:
            case MessageType.Bast:
                ReceiveAsOwner(from, message, extra);
                break;
            case MessageType.UnlockReply:
                break; // unlocks complete when they are sent; the reply confirms (spec §4.18)
            case MessageType.Remove:
                ReceiveRemove(from, extra);
                break;
            case MessageType.Purge:
                EngineLog.PurgeReceived(_logger, Name, from, message.Pid, PurgeOrphans(message.Pid)); // spec §4.21; no reply
                break;
            default:
                Interlocked.Increment(ref _droppedMessages);
                EngineLog.Unhandled(_logger, Name, message.Type, from);
                break;
        }
    }

    // spec §4.9 request on the master: a new master copy; REQUEST_REPLY carries our lock id and the result.
    private void ReceiveRequest(int from, in DlmMessage message, ReadOnlySpan<byte> name, bool asLookup = false)
    {
        var hashed = new HashedName(name); // our own hash of the name: m_hash is not trusted
        var shard = ShardOf(hashed.Hash);
        var outgoing = new Outgoing();
        (EngineLock, LockMode, TaskCompletionSource<int>?)[]? effects = null;
        using (shard.Lock.EnterScope())
        {
            var resource = Acquire(shard, hashed);
            var refusal = Mastership(shard, resource, from);
            if (refusal != Errno.Ok)
            {
                EngineLog.NotMaster(_logger, Name, from, Errno.NameOf(refusal) ?? "?");
                Release(shard, resource);
                var stub = new DlmMessage { Type = MessageType.RequestReply, RemoteId = message.LockId, Result = refusal,
                    Flags = message.Flags & (SharedLockFlags.User | SharedLockFlags.Orphan), GrantedMode = LockMode.Invalid, RequestedMode = LockMode.Invalid };
                outgoing.Add(from, stub, null);
                effects = TakeAll(shard, ref outgoing);
                Flush(outgoing, effects);
                return;
            }

            if (asLookup && CopyOf(resource.Rsb, from, message.LockId) is { } answered)
            {
                // We answered this LOOKUP as a REQUEST before, and the owner's recovery sent it again (spec §5.7:
                // it had stopped before our reply, which it then dropped). A second copy would be one it never
                // learns of and can never unlock: answer with the first.
                Release(shard, resource);
                var state = answered.Status == QueueStatus.Granted ? Errno.Ok : Errno.InProgress;
                outgoing.Add(from, Reply(MessageType.RequestReply, answered, message.LockId, state), answered.ValueBlock);
                effects = TakeAll(shard, ref outgoing);
                Flush(outgoing, effects);
                return;
            }

            var copy = new MasterCopy(resource, NextLockId(shard), from, message.LockId, message.RequestedMode, message.ExFlags,
                (message.Asts & AstFlags.Blocking) != 0)
            {
                OwnerPid = message.Pid,
                SharedFlags = message.Flags & (SharedLockFlags.User | SharedLockFlags.Orphan),
                // A new master copy's LVB starts zero-filled (spec §4.14, §9.4.4).
                ValueBlock = (message.ExFlags & LockFlags.ValBlk) != 0 ? new byte[LvbLength] : null,
            };
            _locks[copy.Id] = copy;
            var result = MasterOperations.Request(resource.Rsb, copy, shard);
            outgoing.Add(from, Reply(MessageType.RequestReply, copy, message.LockId, result), copy.ValueBlock);
            if (result == Errno.Again)
            {
                ReleaseCopy(shard, copy);
            }

            effects = TakeAll(shard, ref outgoing);
            // Sent and queued under the shard lock, so a reply always precedes a later GRANT or BAST
            // for the same lock, and one lock's callbacks keep their order (spec §4.15, §4.18).
            Flush(outgoing, effects);
        }
    }

    // The master copy of the owner's lock (node, its lock id) on this resource, if there is one.
    private static MasterCopy? CopyOf(Rsb rsb, int node, uint ownerLockId) =>
        CopyIn(rsb.Granted, node, ownerLockId) ?? CopyIn(rsb.Converting, node, ownerLockId) ?? CopyIn(rsb.Waiting, node, ownerLockId);

    private static MasterCopy? CopyIn(List<Lkb> queue, int node, uint ownerLockId)
    {
        foreach (var lkb in queue)
        {
            if (lkb is MasterCopy copy && copy.OwnerNode == node && copy.OwnerLockId == ownerLockId)
            {
                return copy;
            }
        }

        return null;
    }

    // spec §4.17 "node receiving REQUEST": become master if the directory says so, else -ENOTBLK / -EBADR.
    private int Mastership(Shard shard, Resource resource, int from)
    {
        if (_directory is null)
        {
            return Errno.Ok;
        }

        if (resource.Master == 0)
        {
            var name = resource.Rsb.Name.Span;
            var directoryNode = _directory.NodeFor(ResourceHash.Compute(name));
            resource.Master = directoryNode == LocalNodeId ? DirectoryRecord(shard, name, LocalNodeId)
                : from == directoryNode ? LocalNodeId
                : 0;
            if (resource.Master == 0)
            {
                return Errno.BadRequest;
            }
        }

        return resource.Master == LocalNodeId ? Errno.Ok : Errno.NotBlock;
    }

    // spec §4.17 "directory node receiving LOOKUP": the first asker becomes master; when we are the
    // master the LOOKUP is handled as a REQUEST and answered with REQUEST_REPLY.
    private void ReceiveLookup(int from, in DlmMessage message, ReadOnlySpan<byte> name)
    {
        var shard = ShardOf(name);
        int master;
        using (shard.Lock.EnterScope())
        {
            master = _directory is not null && _directory.NodeFor(ResourceHash.Compute(name)) == LocalNodeId
                ? DirectoryRecord(shard, name, from)
                : -1;
        }

        if (master == LocalNodeId)
        {
            ReceiveRequest(from, message, name, asLookup: true);
            return;
        }

        var reply = new DlmMessage { Type = MessageType.LookupReply, LockId = message.LockId, NodeId = master,
            Result = master < 0 ? Errno.Invalid : Errno.Ok, GrantedMode = LockMode.Invalid, RequestedMode = LockMode.Invalid };
        _outbox?.Send(from, GlobalId, reply, []);
    }

    // CONVERT, UNLOCK, CANCEL name the master copy by m_remid (spec §4.20: it must be the sender's copy,
    // and for CONVERT/UNLOCK also carry the owner's lock id); otherwise a stub reply with -ENOENT.
    private void ReceiveOnCopy(int from, in DlmMessage message, ReadOnlySpan<byte> lvb)
    {
        var replyType = message.Type switch
        {
            MessageType.Convert => MessageType.ConvertReply,
            MessageType.Unlock => MessageType.UnlockReply,
            _ => MessageType.CancelReply,
        };
        if (!_locks.TryGetValue(message.RemoteId, out var found) || found is not MasterCopy copy || copy.OwnerNode != from
            || (message.Type != MessageType.Cancel && copy.OwnerLockId != message.LockId))
        {
            Interlocked.Increment(ref _droppedMessages);
            EngineLog.NotTheSendersCopy(_logger, Name, message.Type, from, message.RemoteId);
            var stub = new DlmMessage { Type = replyType, RemoteId = message.LockId, LockId = message.RemoteId, Result = Errno.NoEntry,
                Flags = message.Flags & (SharedLockFlags.User | SharedLockFlags.Orphan), GrantedMode = LockMode.Invalid, RequestedMode = LockMode.Invalid };
            _outbox?.Send(from, GlobalId, stub, []);
            return;
        }

        var shard = copy.Resource.Shard;
        var outgoing = new Outgoing();
        (EngineLock, LockMode, TaskCompletionSource<int>?)[]? effects = null;
        using (shard.Lock.EnterScope())
        {
            copy.SharedFlags = message.Flags & (SharedLockFlags.User | SharedLockFlags.Orphan); // m_flags from every message, e.g. ORPHAN once its owner left (spec §1.5, §9.1.3, §4.21)
            ReceiveValueBlock(copy, message.ExFlags, lvb);
            int result;
            var reply = true;
            switch (message.Type)
            {
                case MessageType.Convert:
                    // Down-conversions get no reply: the owner completed them already (spec §4.9).
                    reply = !ModeTables.IsDownConversion(copy.GrantedMode, message.RequestedMode);
                    result = copy.Status == QueueStatus.Granted
                        ? MasterOperations.Convert(copy.Resource.Rsb, copy, message.RequestedMode, message.ExFlags, shard)
                        : Errno.Busy; // spec §9.4: not granted → -EBUSY, sent even for a down-conversion
                    reply |= result == Errno.Busy;
                    break;
                case MessageType.Unlock:
                    result = MasterOperations.Unlock(copy.Resource.Rsb, copy, message.ExFlags, shard);
                    ReleaseCopy(shard, copy);
                    break;
                default:
                    result = MasterOperations.Cancel(copy.Resource.Rsb, copy, shard);
                    if (copy.Status == QueueStatus.None)
                    {
                        ReleaseCopy(shard, copy);
                    }

                    break;
            }

            if (reply)
            {
                var withLvb = replyType == MessageType.ConvertReply ? copy.ValueBlock : null;
                outgoing.Add(from, Reply(replyType, copy, message.LockId, result), withLvb);
            }

            effects = TakeAll(shard, ref outgoing);
            Flush(outgoing, effects);
        }
    }

    // The owner's LVB arrives with CONVERT/UNLOCK when it writes (spec §4.14): keep it in the master copy.
    private void ReceiveValueBlock(MasterCopy copy, LockFlags flags, ReadOnlySpan<byte> lvb)
    {
        if ((flags & LockFlags.ValBlk) == 0 || lvb.IsEmpty)
        {
            return;
        }

        copy.Flags |= LockFlags.ValBlk;
        copy.ValueBlock ??= new byte[LvbLength];
        lvb[..Math.Min(lvb.Length, LvbLength)].CopyTo(copy.ValueBlock);
    }

    private static DlmMessage Reply(MessageType type, MasterCopy copy, uint ownerLockId, int result) => new()
    {
        Type = type,
        NodeId = copy.OwnerNode,
        LockId = copy.Id,
        RemoteId = ownerLockId,
        ExFlags = copy.Flags,
        SbFlags = copy.SbFlags,
        Flags = copy.SharedFlags,
        LvbSeq = copy.LvbSeq,
        Hash = ResourceHash.Compute(copy.Resource.Rsb.Name.Span),
        Status = copy.Status,
        GrantedMode = copy.GrantedMode,
        RequestedMode = copy.RequestedMode,
        BastMode = LockMode.Null,
        Result = result,
    };

    private void ReleaseCopy(Shard shard, MasterCopy copy)
    {
        _locks.TryRemove(copy.Id, out _);
        Release(shard, copy.Resource);
    }

    // Under the shard lock: the grant effects of master copies become GRANT/BAST messages to their owners;
    // the local ones are returned for Flush. Nothing to do on the uncontended local path, which stays small.
    private static (EngineLock, LockMode, TaskCompletionSource<int>?)[]? TakeAll(Shard shard, ref Outgoing outgoing)
    {
        if (shard.HasRemoteEffects)
        {
            AddRemoteEffects(shard, ref outgoing);
        }

        return shard.HasEffects ? shard.TakeEffects() : null;
    }

    // Out of line: its message locals would otherwise widen (and be zeroed in) every caller's frame.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AddRemoteEffects(Shard shard, ref Outgoing outgoing)
    {
        foreach (var (copy, bast) in shard.TakeRemoteEffects())
        {
            var message = Reply(bast == LockMode.Invalid ? MessageType.Grant : MessageType.Bast, copy, copy.OwnerLockId, Errno.Ok);
            message.BastMode = bast == LockMode.Invalid ? LockMode.Null : bast;
            outgoing.Add(copy.OwnerNode, message, bast == LockMode.Invalid ? copy.ValueBlock : null);
        }
    }

    private void Flush(Outgoing outgoing, (EngineLock, LockMode, TaskCompletionSource<int>?)[]? effects)
    {
        if (outgoing.Messages is { } messages)
        {
            Send(messages);
        }

        if (effects is not null)
        {
            Deliver(effects);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)] // as AddRemoteEffects
    private void Send(List<(int Node, DlmMessage Message, byte[] Extra)> messages)
    {
        foreach (var (node, message, extra) in messages)
        {
            _outbox?.Send(node, GlobalId, message, extra);
        }
    }

    /// <summary>Messages to send once the shard lock is released.</summary>
    private struct Outgoing
    {
        public List<(int Node, DlmMessage Message, byte[] Extra)>? Messages;

        // spec §9.1.1 (6.6+): an LVB goes only when the lock has one and VALBLK; a name (always) goes as is.
        public void Add(int node, DlmMessage message, byte[]? extra, bool always = false) =>
            (Messages ??= []).Add((node, message,
                extra is not null && (always || (message.ExFlags & LockFlags.ValBlk) != 0) ? (byte[])extra.Clone() : []));
    }
}
