using Dlm.Protocol;

namespace Dlm.Core;

public sealed partial class LockspaceEngine
{
    private readonly HashSet<Resource> _newMasters = []; // resources this recovery made us master of
    private long _locksRebuilt;

    /// <summary>Master copies rebuilt here from other nodes' RCOM_LOCK (spec §5.8), since the engine was created.</summary>
    public long LocksRebuilt => Interlocked.Read(ref _locksRebuilt);

    // spec §5.8 lock rebuild on the new master: a master copy per (owner node, owner lock id); -EEXIST
    // when it is already here, -EBADR when we are not (yet) the master.
    private void AnswerLock(int from, in RcomHeader rcom, ReadOnlySpan<byte> payload)
    {
        var rl = RcomLock.Read(payload);
        var lvb = RcomLock.ValueBlockOf(payload);
        var result = Errno.Ok;
        uint ours = 0;
        if (rl.NameLength is 0 or > WireLimits.MaxResourceNameLength)
        {
            result = Errno.Invalid;
        }
        else if (rl.ParentLockId != 0)
        {
            result = Errno.NotSupported;
        }
        else if (lvb.Length > LvbLength)
        {
            result = Errno.Invalid;
        }
        else
        {
            (result, ours) = RebuildCopy(from, rl, RcomLock.NameOf(payload), lvb);
        }

        rl.RemoteId = ours;
        rl.Result = result;
        var reply = new byte[WireLimits.RcomLockSize];
        rl.Write(reply, RcomLock.NameOf(payload), []);
        _outbox?.SendRcom(from, GlobalId, new RcomHeader(RcomType.LockReply, 0, rcom.Id, CurrentSeq, rcom.Seq), reply);
    }

    private (int Result, uint Id) RebuildCopy(int from, RcomLock rl, ReadOnlySpan<byte> name, ReadOnlySpan<byte> lvb)
    {
        var hashed = new HashedName(name);
        var shard = ShardOf(hashed.Hash);
        using (shard.Lock.EnterScope())
        {
            shard.Resources.TryGetValue(hashed, out var resource);
            var weAreDirectory = _directory!.NodeFor(ResourceHash.Compute(name)) == LocalNodeId;
            if (resource?.Master != LocalNodeId && !(weAreDirectory && resource is null or { Master: 0 } && DirectoryRecord(shard, name, LocalNodeId) == LocalNodeId))
            {
                return (Errno.BadRequest, 0);
            }

            if (resource is not null && CopyOf(resource.Rsb, from, rl.LockId) is { } existing)
            {
                return (Errno.Exists, existing.Id); // sent again by a recovery that missed our reply (spec §5.8)
            }

            resource = Acquire(shard, hashed); // the copy's reference; a cached resource is in use again

            resource.Master = LocalNodeId;
            var copy = new MasterCopy(resource, NextLockId(shard), from, rl.LockId, rl.RequestedMode, rl.ExFlags, (rl.Asts & AstFlags.Blocking) != 0)
            {
                GrantedMode = rl.GrantedMode,
                LvbSeq = rl.LvbSeq,
                SharedFlags = rl.Flags & (SharedLockFlags.User | SharedLockFlags.Orphan),
                ValueBlock = lvb.IsEmpty ? null : Padded(lvb),
            };
            _locks[copy.Id] = copy;
            MasterOperations.AddRecovered(resource.Rsb, copy, rl.Status);
            Interlocked.Increment(ref _locksRebuilt);
            lock (_recovery)
            {
                _newMasters.Add(resource);
            }

            return (Errno.Ok, copy.Id);
        }
    }

    private byte[] Padded(ReadOnlySpan<byte> lvb)
    {
        var copy = new byte[LvbLength];
        lvb.CopyTo(copy);
        return copy;
    }

    // spec §5.8 remaster and lock rebuild: resources whose master left get a new one (the first to ask
    // the directory node); our locks are rebuilt there with RCOM_LOCK, or placed on our own queues.
    private async Task RemasterAsync(HashSet<int> removed, CancellationToken ct)
    {
        var owned = _locks.Values.OfType<EngineLock>().Where(l => !l.Released && l.Status != QueueStatus.None)
            .GroupBy(l => l.Resource).ToDictionary(g => g.Key, g => g.ToList());
        var work = new List<Task>();
        foreach (var (shard, resource) in ActiveResources())
        {
            bool orphaned;
            using (shard.Lock.EnterScope())
            {
                orphaned = resource.Master != LocalNodeId && (removed.Contains(resource.Master) || resource.RebuildPending);
            }

            if (orphaned)
            {
                work.Add(RemasterAsync(shard, resource, owned.GetValueOrDefault(resource) ?? [], ct));
            }
        }

        await Task.WhenAll(work).ConfigureAwait(false);
    }

    private async Task RemasterAsync(Shard shard, Resource resource, List<EngineLock> locks, CancellationToken ct)
    {
        var name = resource.Rsb.Name.ToArray();
        var directoryNode = _directory!.NodeFor(ResourceHash.Compute(name));
        int master;
        if (directoryNode == LocalNodeId)
        {
            using (shard.Lock.EnterScope())
            {
                master = DirectoryRecord(shard, name, LocalNodeId);
            }
        }
        else
        {
            var (rcom, _) = await RequestMatchedAsync(directoryNode, RcomType.Lookup, name, ct).ConfigureAwait(false);
            master = rcom.Result;
            if (master <= 0)
            {
                throw new DlmException($"Lockspace '{Name}': directory node {directoryNode} answered {master} to a recovery LOOKUP (spec §5.8).");
            }
        }

        var ordered = locks.OrderBy(l => l.Status switch { QueueStatus.Granted => 0, QueueStatus.Convert => 1, _ => 2 }).ToList();
        if (master == LocalNodeId)
        {
            using (shard.Lock.EnterScope())
            {
                resource.Master = LocalNodeId;
                resource.RebuildPending = false;
                foreach (var engineLock in ordered)
                {
                    _locks.TryRemove(engineLock.Id, out _);
                    engineLock.RemoteId = 0;
                    MasterOperations.AddRecovered(resource.Rsb, engineLock, engineLock.Status);
                }

                lock (_recovery)
                {
                    _newMasters.Add(resource);
                }
            }

            return;
        }

        using (shard.Lock.EnterScope())
        {
            resource.Master = master;
            resource.RebuildPending = true;
        }

        await Task.WhenAll(ordered.Select(l => RebuildOnAsync(master, l, ct))).ConfigureAwait(false);
        using (shard.Lock.EnterScope())
        {
            resource.RebuildPending = false;
        }
    }

    // One RCOM_LOCK and its reply; -EBADR (the new master does not know it yet) → again after a pause.
    private async Task RebuildOnAsync(int master, EngineLock engineLock, CancellationToken ct)
    {
        var delay = TimeSpan.Zero;
        while (true)
        {
            byte[] payload;
            using (engineLock.Resource.Shard.Lock.EnterScope())
            {
                var rl = new RcomLock
                {
                    OwnerPid = engineLock.OwnerPid,
                    Flags = engineLock.IsOrphan ? SharedLockFlags.Orphan : SharedLockFlags.None,
                    LockId = engineLock.Id,
                    RemoteId = engineLock.RemoteId,
                    ExFlags = engineLock.Flags,
                    LvbSeq = engineLock.LvbSeq,
                    RequestedMode = engineLock.RequestedMode,
                    GrantedMode = engineLock.GrantedMode,
                    Status = engineLock.Status,
                    Asts = AstFlags.Completion | (engineLock.Blocking is null ? AstFlags.None : AstFlags.Blocking),
                };
                var lvb = engineLock.ValueBlock ?? [];
                payload = new byte[WireLimits.RcomLockSize + lvb.Length];
                rl.Write(payload, engineLock.Resource.Rsb.Name.Span, lvb);
            }

            var (_, reply) = await RequestMatchedAsync(master, RcomType.Lock, payload, ct).ConfigureAwait(false);
            var answer = RcomLock.Read(reply);
            if (answer.Result is Errno.Ok or Errno.Exists)
            {
                using (engineLock.Resource.Shard.Lock.EnterScope())
                {
                    engineLock.RemoteId = answer.RemoteId;
                }

                return;
            }

            if (answer.Result != Errno.BadRequest)
            {
                throw new DlmException($"Lockspace '{Name}': node {master} refused lock {engineLock.Id:x} in recovery with {Errno.NameOf(answer.Result) ?? answer.Result.ToString(System.Globalization.CultureInfo.InvariantCulture)}.");
            }

            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds + 20, 1000));
            await Task.Delay(delay, _time, ct).ConfigureAwait(false);
        }
    }
}
