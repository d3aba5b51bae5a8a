using Dlm.Protocol;

namespace Dlm.Core;

public sealed partial class LockspaceEngine
{
    private readonly HashSet<Resource> _grantAfter = []; // resources for the post-recovery grant pass (spec §5.3 step 15)

    // spec §5.8 purge: master copies of removed owners go; a PW/EX holder with VALBLK makes the LVB invalid.
    private void PurgeRemoved(HashSet<int> removed)
    {
        foreach (var (shard, resource) in ActiveResources())
        {
            using (shard.Lock.EnterScope())
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
            using (shard.Lock.EnterScope())
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

    // spec §5.3 step 15: the grant pass on resources flagged during recovery (conversions ignore queue order).
    private void GrantRecovered()
    {
        Resource[] flagged;
        lock (_recovery)
        {
            flagged = [.. _grantAfter];
            _grantAfter.Clear();
        }

        for (var i = 0; i < flagged.Length; i++)
        {
            var resource = flagged[i];
            var shard = resource.Shard;
            using (shard.Lock.EnterScope())
            {
                if (!_running)
                {
                    // A newer stop: the rest waits for the next recovery's grant pass (as in ResendWaiters).
                    lock (_recovery)
                    {
                        _grantAfter.UnionWith(flagged[i..]);
                    }

                    return;
                }

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

        lock (_recovery)
        {
            _newMasters.Clear(); // only once the whole pass is done: an aborted one leaves them for the next finalize
        }
    }
}
