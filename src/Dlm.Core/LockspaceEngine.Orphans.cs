using System.Collections.Concurrent;
using Dlm.Protocol;

namespace Dlm.Core;

// spec §4.21: a granted PERSISTENT lock whose owner goes away becomes an orphan that the node keeps
// holding; an ORPHAN request adopts it by name and mode; PURGE (here or by DLM_MSG_PURGE) unlocks
// the orphans of one owner pid, or all of them for pid 0.
public sealed partial class LockspaceEngine
{
    private readonly ConcurrentDictionary<uint, EngineLock> _orphans = new();

    /// <summary>The orphans this node holds now.</summary>
    public IReadOnlyList<EngineLock> Orphans => [.. _orphans.Values.Where(o => o.IsOrphan && !o.Released).OrderBy(o => o.Id)];

    /// <summary>
    /// The owner of <paramref name="engineLock"/> went away and the lock is PERSISTENT (spec §4.21): the node
    /// keeps holding it in its granted mode, with no callbacks, until it is adopted or purged. A conversion in
    /// flight is cancelled (the lock keeps its granted mode). Returns 0, or -EINVAL when the lock was never
    /// granted or is released (unlock it instead).
    /// </summary>
    public int Orphan(EngineLock engineLock)
    {
        ArgumentNullException.ThrowIfNull(engineLock);
        var shard = engineLock.Resource.Shard;
        using (shard.Lock.EnterScope())
        {
            if (engineLock.Released || engineLock.UnlockDeferred || engineLock.GrantedMode == LockMode.Invalid || engineLock.IsOrphan)
            {
                return Errno.Invalid;
            }

            engineLock.IsOrphan = true; // no callback reaches the gone owner from here on
        }

        Cancel(engineLock); // before anyone can adopt it, so an adopter's own conversion is never the one cancelled
        using (shard.Lock.EnterScope())
        {
            if (engineLock.Released)
            {
                return Errno.Invalid;
            }

            _orphans[engineLock.Id] = engineLock;
        }

        EngineLog.Orphaned(_logger, Name, engineLock.Id, engineLock.OwnerPid);
        return Errno.Ok;
    }

    /// <summary>
    /// An ORPHAN request (spec §4.11, §4.21): adopts an orphan of <paramref name="name"/> granted in
    /// <paramref name="mode"/> for the owner <paramref name="ownerPid"/>, with a new blocking callback. Returns
    /// it and 0; -EAGAIN when orphans of the name exist only in other modes; -ENOENT when there are none.
    /// </summary>
    public (EngineLock? Lock, int Result) AdoptOrphan(byte[] name, LockMode mode, LockFlags flags, int ownerPid,
        Action<EngineLock, LockMode>? blocking)
    {
        ArgumentNullException.ThrowIfNull(name);
        ThrowIfInvalid(LockArguments.ValidateLock(mode, flags & ~LockFlags.Convert, name.Length));
        ownerPid = ownerPid == 0 ? ThisProcess : ownerPid;
        var otherMode = false;
        foreach (var orphan in _orphans.Values.OrderBy(o => o.Id))
        {
            if (!orphan.Resource.Rsb.Name.Span.SequenceEqual(name))
            {
                continue;
            }

            using (orphan.Resource.Shard.Lock.EnterScope())
            {
                if (!orphan.IsOrphan || orphan.Released)
                {
                    continue;
                }

                if (orphan.GrantedMode != mode)
                {
                    otherMode = true;
                    continue;
                }

                orphan.OwnerPid = ownerPid;
                orphan.Blocking = blocking;
                orphan.LastBastMode = LockMode.Invalid; // BASTs the orphan did not see must not suppress the adopter's
                orphan.Flags = (orphan.Flags & ~LockFlags.Persistent) | (flags & LockFlags.Persistent);
                orphan.IsOrphan = false;
                _orphans.TryRemove(orphan.Id, out _);
                return (orphan, Errno.Ok);
            }
        }

        return (null, otherMode ? Errno.Again : Errno.NoEntry);
    }

    /// <summary>Unlocks the orphans of owner <paramref name="ownerPid"/> held here, or all of them for 0 (spec §4.21 PURGE). Returns how many.</summary>
    public int PurgeOrphans(int ownerPid)
    {
        var purged = 0;
        foreach (var orphan in _orphans.Values.OrderBy(o => o.Id))
        {
            // Claimed and unlocked in one critical section, so an adoption racing the purge either
            // gets the orphan before it or not at all.
            using (orphan.Resource.Shard.Lock.EnterScope())
            {
                if ((ownerPid == 0 || orphan.OwnerPid == ownerPid) && orphan.IsOrphan && !orphan.Released
                    && _orphans.TryRemove(orphan.Id, out _)
                    && UnlockLocked(orphan, LockFlags.ForceUnlock, deferred: false) is Errno.Unlocked)
                {
                    purged++;
                }
            }
        }

        return purged;
    }

    /// <summary>Asks <paramref name="nodeId"/> to purge the orphans of <paramref name="ownerPid"/> it holds (0: all) with DLM_MSG_PURGE (spec §1.6, §4.21).</summary>
    public void SendPurge(int nodeId, int ownerPid)
    {
        if (nodeId == LocalNodeId)
        {
            PurgeOrphans(ownerPid);
            return;
        }

        if (_outbox is null || !Members.Contains(nodeId))
        {
            throw new ArgumentOutOfRangeException(nameof(nodeId), nodeId, $"Node {nodeId} is not a member of lockspace '{Name}'; purge orphans on a member.");
        }

        _outbox.Send(nodeId, GlobalId, new DlmMessage { Type = MessageType.Purge, NodeId = nodeId, Pid = ownerPid }, []);
    }
}
