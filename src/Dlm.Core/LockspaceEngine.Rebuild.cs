using Dlm.Protocol;

namespace Dlm.Core;

public sealed partial class LockspaceEngine
{
    private readonly Dictionary<int, (ulong Seq, byte[][] Names, int Next)> _namesCursors = []; // NAMES dumps per requester (spec §5.6)
    private readonly HashSet<Resource> _newMasters = []; // resources this recovery made us master of
    private readonly HashSet<Resource> _grantAfter = []; // resources for the post-recovery grant pass (spec §5.3 step 15)
    private long _locksRebuilt;

    /// <summary>Master copies rebuilt here from other nodes' RCOM_LOCK (spec §5.8), since the engine was created.</summary>
    public long LocksRebuilt => Interlocked.Read(ref _locksRebuilt);

    // spec §5.3 step 2: cached resources and directory records go; the directory is rebuilt from the masters.
    private void DiscardInactive()
    {
        foreach (var shard in _shards)
        {
            lock (shard.Lock)
            {
                foreach (var (key, resource) in shard.Resources.Where(r => r.Value.Cached).ToArray())
                {
                    shard.Resources.Remove(key);
                }

                shard.Unused = 0;
                shard.Directory.Clear();
            }
        }

        lock (_recovery)
        {
            _namesCursors.Clear();
            _newMasters.Clear();
            _grantAfter.Clear();
        }
    }

    private IEnumerable<(Shard Shard, Resource Resource)> ActiveResources() =>
        _shards.SelectMany(s =>
        {
            lock (s.Lock)
            {
                return s.Resources.Values.Where(r => r.References > 0).Select(r => (s, r)).ToArray();
            }
        });

    // spec §5.6: a resource we master and whose directory node is us needs its record here.
    private void RecordOwnMasters()
    {
        foreach (var (shard, resource) in ActiveResources())
        {
            lock (shard.Lock)
            {
                if (resource.Master == LocalNodeId && _directory!.NodeFor(ResourceHash.Compute(resource.Rsb.Name.Span)) == LocalNodeId)
                {
                    shard.Directory[resource.Rsb.Name.ToArray()] = LocalNodeId;
                }
            }
        }
    }

    // spec §5.6 requester: every other member lists the resources it masters whose directory node is us.
    private async Task RebuildDirectoryAsync(CancellationToken ct)
    {
        foreach (var node in Members.Where(n => n != LocalNodeId))
        {
            var last = Array.Empty<byte>();
            while (true)
            {
                var (_, payload) = await RequestAsync(node, RcomType.Names, last, ct).ConfigureAwait(false);
                if (!RecordNames(node, payload, ref last))
                {
                    break;
                }
            }
        }
    }

    // True when the peer has more (0x0000 chunk end); false at 0xFFFF.
    private bool RecordNames(int master, byte[] payload, ref byte[] last)
    {
        var reader = new NamesReader(payload);
        while (true)
        {
            switch (reader.Next(out var name))
            {
                case NamesRecord.Name:
                    var shard = ShardOf(name);
                    lock (shard.Lock)
                    {
                        var records = shard.Directory.GetAlternateLookup<ReadOnlySpan<byte>>();
                        if (records.TryGetValue(name, out var recorded) && recorded == LocalNodeId)
                        {
                            EngineLog.DirectoryConflict(_logger, Name, master); // we master it too: keep ours (spec §5.6)
                        }
                        else
                        {
                            records[name] = master;
                        }
                    }

                    last = name.ToArray();
                    break;
                case NamesRecord.EndOfChunk:
                    return true;
                case NamesRecord.EndOfList:
                    return false;
                default:
                    throw new DlmException($"Lockspace '{Name}': node {master} sent a malformed NAMES_REPLY (spec §1.7.4, -EINVAL).");
            }
        }
    }

    // spec §5.6 sender: the names we master whose directory node is the requester, continuing after the given name.
    private void AnswerNames(int from, in RcomHeader rcom, ReadOnlySpan<byte> payload)
    {
        var lastName = payload.ToArray();
        (ulong Seq, byte[][] Names, int Next) cursor;
        lock (_recovery)
        {
            _namesCursors.TryGetValue(from, out cursor);
        }

        if (lastName.Length <= 1 || cursor.Names is null || cursor.Seq != rcom.Seq)
        {
            var names = ActiveResources()
                .Where(r => r.Resource.Master == LocalNodeId && _directory!.NodeFor(ResourceHash.Compute(r.Resource.Rsb.Name.Span)) == from)
                .Select(r => r.Resource.Rsb.Name.ToArray())
                .ToArray();
            cursor = (rcom.Seq, names, 0);
        }
        else if (cursor.Next == 0 || !cursor.Names[cursor.Next - 1].AsSpan().SequenceEqual(lastName))
        {
            var at = Array.FindIndex(cursor.Names, n => n.AsSpan().SequenceEqual(lastName));
            cursor.Next = at + 1;
        }

        var reply = new byte[WireLimits.NamesReplyCapacity];
        var writer = new NamesWriter(reply);
        var next = cursor.Next;
        while (next < cursor.Names.Length && writer.TryAdd(cursor.Names[next]))
        {
            next++;
        }

        writer.Complete(endOfList: next == cursor.Names.Length);
        lock (_recovery)
        {
            _namesCursors[from] = (cursor.Seq, cursor.Names, next);
        }

        _outbox?.SendRcom(from, GlobalId, new RcomHeader(RcomType.NamesReply, 0, rcom.Id, CurrentSeq, rcom.Seq), reply);
    }

    private ulong CurrentSeq
    {
        get
        {
            lock (_recovery)
            {
                return _recoverSeq;
            }
        }
    }

    // spec §5.8 remaster at the directory node: the first node to ask becomes the master.
    private void AnswerLookup(int from, in RcomHeader rcom, ReadOnlySpan<byte> name)
    {
        if (rcom.Id == 0xFFFF_FFFF)
        {
            return; // the old debug-dump request: no reply (spec §1.7.1)
        }

        int master;
        if (name.Length is 0 or > WireLimits.MaxResourceNameLength || _directory!.NodeFor(ResourceHash.Compute(name)) != LocalNodeId)
        {
            master = Errno.Invalid;
        }
        else
        {
            var shard = ShardOf(name);
            lock (shard.Lock)
            {
                master = DirectoryRecord(shard, name, from);
            }
        }

        _outbox?.SendRcom(from, GlobalId, new RcomHeader(RcomType.LookupReply, master, rcom.Id, CurrentSeq, rcom.Seq), []);
    }

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
        var shard = ShardOf(name);
        lock (shard.Lock)
        {
            shard.Lookup.TryGetValue(name, out var resource);
            var weAreDirectory = _directory!.NodeFor(ResourceHash.Compute(name)) == LocalNodeId;
            if (resource?.Master != LocalNodeId && !(weAreDirectory && resource is null or { Master: 0 } && DirectoryRecord(shard, name, LocalNodeId) == LocalNodeId))
            {
                return (Errno.BadRequest, 0);
            }

            resource ??= Acquire(shard, name);
            if (resource.References == 0)
            {
                resource.References++;
            }
            else
            {
                var existing = resource.Rsb.Granted.Concat(resource.Rsb.Converting).Concat(resource.Rsb.Waiting)
                    .OfType<MasterCopy>().FirstOrDefault(c => c.OwnerNode == from && c.OwnerLockId == rl.LockId);
                if (existing is not null)
                {
                    return (Errno.Exists, existing.Id);
                }

                resource.References++;
            }

            resource.Master = LocalNodeId;
            var copy = new MasterCopy(resource, NextLockId(), from, rl.LockId, rl.RequestedMode, rl.ExFlags, (rl.Asts & AstFlags.Blocking) != 0)
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

    // spec §5.7 step 8: operations waiting for a reply that will not come are marked for resend, or completed.
    private List<(EngineLock Lock, LockMode Mode, LockFlags Flags)> PrepareWaiters(HashSet<int> removed)
    {
        var resend = new List<(EngineLock, LockMode, LockFlags)>();
        var completions = new List<(TaskCompletionSource<int>, int)>();
        foreach (var (shard, resource) in ActiveResources())
        {
            lock (shard.Lock)
            {
                if (resource.AwaitingMaster is { } awaiting)
                {
                    // Waiting for LOOKUP_REPLY: always re-done, the directory was rebuilt.
                    foreach (var waiter in awaiting.Where(w => !w.Released))
                    {
                        _locks.TryRemove(waiter.Id, out _);
                        waiter.AwaitingReply = false;
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
            lock (resource.Shard.Lock)
            {
                if (engineLock.Released || !removed.Contains(resource.Master))
                {
                    continue; // its master survives: the reply will come
                }

                if (engineLock.CancelSent || engineLock.CancelRequested)
                {
                    engineLock.CancelSent = engineLock.CancelRequested = engineLock.AwaitingReply = false;
                    Cancelled(resource.Shard, engineLock, completions);
                }
                else if (engineLock.AwaitingReply && !engineLock.IsConversion)
                {
                    engineLock.AwaitingReply = false;
                    engineLock.Status = QueueStatus.None; // not rebuilt: requested again after recovery
                    resend.Add((engineLock, engineLock.RequestedMode, engineLock.Flags));
                }
                else if (engineLock.AwaitingReply)
                {
                    // An up-conversion without its reply: rebuilt as granted at its mode, re-sent after
                    // recovery (the mainline 7.0 handling of middle conversions, spec §5.7, §9.5.4).
                    engineLock.AwaitingReply = false;
                    resend.Add((engineLock, engineLock.RequestedMode, engineLock.Flags));
                    engineLock.RequestedMode = LockMode.Invalid;
                    engineLock.Status = QueueStatus.Granted;
                }
            }
        }

        foreach (var (operation, result) in completions)
        {
            _callbacks.Complete(operation, result);
        }

        return resend;
    }

    // spec §5.8 purge: master copies of removed owners go; a PW/EX holder with VALBLK makes the LVB invalid.
    private void PurgeRemoved(HashSet<int> removed)
    {
        foreach (var (shard, resource) in ActiveResources())
        {
            lock (shard.Lock)
            {
                if (resource.Master != LocalNodeId)
                {
                    continue;
                }

                var rsb = resource.Rsb;
                foreach (var copy in rsb.Granted.Concat(rsb.Converting).Concat(rsb.Waiting).OfType<MasterCopy>()
                    .Where(c => removed.Contains(c.OwnerNode)).ToArray())
                {
                    if (copy.GrantedMode >= LockMode.ProtectedWrite && copy.Has(LockFlags.ValBlk))
                    {
                        rsb.ValueNotValid = true;
                    }

                    rsb.Granted.Remove(copy);
                    rsb.Converting.Remove(copy);
                    rsb.Waiting.Remove(copy);
                    copy.Status = QueueStatus.None;
                    ReleaseCopy(shard, copy);
                    lock (_recovery)
                    {
                        _grantAfter.Add(resource);
                    }
                }
            }
        }
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
            lock (shard.Lock)
            {
                orphaned = resource.Master != LocalNodeId && removed.Contains(resource.Master);
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
            lock (shard.Lock)
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
            lock (shard.Lock)
            {
                resource.Master = LocalNodeId;
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

        lock (shard.Lock)
        {
            resource.Master = master;
        }

        await Task.WhenAll(ordered.Select(l => RebuildOnAsync(master, l, ct))).ConfigureAwait(false);
    }

    // One RCOM_LOCK and its reply; -EBADR (the new master does not know it yet) → again after a pause.
    private async Task RebuildOnAsync(int master, EngineLock engineLock, CancellationToken ct)
    {
        var delay = TimeSpan.Zero;
        while (true)
        {
            byte[] payload;
            lock (engineLock.Resource.Shard.Lock)
            {
                var rl = new RcomLock
                {
                    OwnerPid = Environment.ProcessId,
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
                lock (engineLock.Resource.Shard.Lock)
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

    // spec §5.8 finalize (after the LOCKS barrier) on every resource we master.
    private void FinalizeMastered()
    {
        HashSet<Resource> fresh;
        lock (_recovery)
        {
            fresh = [.. _newMasters];
        }

        foreach (var (shard, resource) in ActiveResources())
        {
            lock (shard.Lock)
            {
                if (resource.Master != LocalNodeId)
                {
                    continue;
                }

                var rsb = resource.Rsb;
                FixConversions(rsb);
                if (fresh.Contains(resource))
                {
                    RecoverValueBlock(rsb);
                }

                if (rsb.Converting.Count > 0 || rsb.Waiting.Count > 0)
                {
                    lock (_recovery)
                    {
                        _grantAfter.Add(resource);
                    }
                }
            }
        }
    }

    // spec §5.8 conversion fix-up: a converting lock whose granted mode is unknown takes that of a granted
    // PR or CW lock, else its own requested mode.
    private static void FixConversions(Rsb rsb)
    {
        foreach (var lkb in rsb.Converting.Where(l => l.GrantedMode == LockMode.Invalid))
        {
            var middle = rsb.Granted.FirstOrDefault(g => g.GrantedMode is LockMode.ProtectedRead or LockMode.ConcurrentWrite);
            lkb.GrantedMode = middle?.GrantedMode ?? lkb.RequestedMode;
        }
    }

    // spec §5.8 and §9.5.3: the new master's LVB comes from a VALBLK lock granted above CR, else from the
    // VALBLK lock with the highest sequence by the kernel's signed comparison, and is then not trusted.
    private void RecoverValueBlock(Rsb rsb)
    {
        var candidates = rsb.Granted.Concat(rsb.Converting).Where(l => l.Has(LockFlags.ValBlk) && l.ValueBlock is not null).ToList();
        if (candidates.Count == 0)
        {
            return;
        }

        var big = candidates.FirstOrDefault(l => l.GrantedMode > LockMode.ConcurrentRead);
        Lkb? source = big;
        if (big is null)
        {
            uint high = 0;
            foreach (var lkb in candidates)
            {
                if ((int)lkb.LvbSeq - (int)high >= 0)
                {
                    source = lkb;
                    high = lkb.LvbSeq;
                }
            }

            rsb.ValueNotValid = true;
        }

        rsb.ValueBlock ??= new byte[LvbLength];
        if (source?.ValueBlock is { } value)
        {
            value.AsSpan(0, Math.Min(value.Length, LvbLength)).CopyTo(rsb.ValueBlock);
            rsb.LvbSeq = source.LvbSeq;
        }
        else
        {
            Array.Clear(rsb.ValueBlock);
            rsb.LvbSeq = 0;
        }
    }

    // spec §5.7 step 14: requests and conversions whose master left are issued again.
    private void ResendWaiters(List<(EngineLock Lock, LockMode Mode, LockFlags Flags)> resend)
    {
        foreach (var (engineLock, mode, flags) in resend)
        {
            var shard = engineLock.Resource.Shard;
            var outgoing = new Outgoing();
            var completions = new List<(TaskCompletionSource<int>, int)>();
            lock (shard.Lock)
            {
                if (engineLock.Released)
                {
                    continue;
                }

                if (engineLock.IsConversion)
                {
                    ReissueConversion(shard, engineLock, mode, flags, ref outgoing, completions);
                }
                else
                {
                    engineLock.RequestedMode = mode;
                    engineLock.Flags = flags;
                    if (KnowMaster(shard, engineLock.Resource, engineLock, ref outgoing))
                    {
                        if (IsLocal(engineLock.Resource))
                        {
                            var result = MasterOperations.Request(engineLock.Resource.Rsb, engineLock, shard);
                            if (result != Errno.InProgress)
                            {
                                Finish(shard, engineLock, result, completions);
                            }
                        }
                        else
                        {
                            RequestRemote(engineLock, ref outgoing);
                        }
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

    // spec §5.3 step 15: the grant pass on resources flagged during recovery (conversions ignore queue order).
    private void GrantRecovered()
    {
        Resource[] flagged;
        lock (_recovery)
        {
            flagged = [.. _grantAfter];
            _grantAfter.Clear();
            _newMasters.Clear();
        }

        foreach (var resource in flagged)
        {
            var shard = resource.Shard;
            lock (shard.Lock)
            {
                if (resource.Master != LocalNodeId)
                {
                    continue;
                }

                resource.Rsb.RecoverGrant = true;
                MasterOperations.GrantPending(resource.Rsb, shard);
                resource.Rsb.RecoverGrant = false;
                var outgoing = new Outgoing();
                var effects = TakeAll(shard, ref outgoing);
                Flush(outgoing, effects);
            }
        }
    }
}
