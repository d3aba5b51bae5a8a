using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>One lock in a <see cref="LockspaceEngine.Dump"/> (in the spirit of <c>dlm_tool lockdump</c>).</summary>
/// <param name="Id">Lock id on this node.</param>
/// <param name="Node">Owner node (this node for local locks).</param>
/// <param name="RemoteId">The other copy's id (master's for a process copy, owner's for a master copy), 0 if none.</param>
/// <param name="Granted">Granted mode (IV if none).</param>
/// <param name="Requested">Requested mode (IV if none).</param>
/// <param name="Queue">Queue the lock is on.</param>
/// <param name="Pid">The owner's process id (<c>m_pid</c>).</param>
/// <param name="Orphan">Held by its node for an owner that went away (PERSISTENT, spec §4.21).</param>
public sealed record LockDump(uint Id, int Node, uint RemoteId, LockMode Granted, LockMode Requested, QueueStatus Queue, int Pid = 0, bool Orphan = false);

/// <summary>One resource in a <see cref="LockspaceEngine.Dump"/>.</summary>
/// <param name="Name">Resource name.</param>
/// <param name="Master">Master node, 0 while unknown.</param>
/// <param name="ValueNotValid">The resource LVB is not to be trusted.</param>
/// <param name="Locks">Locks: the master's queues in order when mastered here, else this node's own locks.</param>
public sealed record ResourceDump(byte[] Name, int Master, bool ValueNotValid, IReadOnlyList<LockDump> Locks);

public sealed partial class LockspaceEngine
{
    /// <summary>A snapshot of every resource in use on this node and its locks.</summary>
    public IReadOnlyList<ResourceDump> Dump()
    {
        var owned = _locks.Values.OfType<EngineLock>().Where(l => !l.Released).ToLookup(l => l.Resource);
        var dump = new List<ResourceDump>();
        foreach (var (shard, resource) in ActiveResources())
        {
            using (shard.Lock.EnterScope())
            {
                var rsb = resource.Rsb;
                var locks = IsLocal(resource)
                    ? rsb.Granted.Concat(rsb.Converting).Concat(rsb.Waiting).Select(Describe).ToList()
                    : owned[resource].Select(Describe).ToList();
                dump.Add(new ResourceDump(rsb.Name.ToArray(), resource.Master == 0 && _directory is null ? LocalNodeId : resource.Master,
                    rsb.ValueNotValid, locks));
            }
        }

        return dump;
    }

    /// <summary>This node's lock <paramref name="id"/>, including a request still waiting for its master (for tests and tools).</summary>
    internal EngineLock? OwnLock(uint id) =>
        _locks.TryGetValue(id, out var found) && found is EngineLock own ? own
        : ActiveResources().SelectMany(r => r.Resource.AwaitingMaster ?? []).FirstOrDefault(l => l.Id == id);

    private LockDump Describe(Lkb lkb) => lkb switch
    {
        MasterCopy copy => new LockDump(copy.Id, copy.OwnerNode, copy.OwnerLockId, copy.GrantedMode, copy.RequestedMode, copy.Status,
            copy.OwnerPid, (copy.SharedFlags & SharedLockFlags.Orphan) != 0),
        EngineLock own => new LockDump(own.Id, LocalNodeId, own.RemoteId, own.GrantedMode, own.RequestedMode, own.Status, own.OwnerPid, own.IsOrphan),
        _ => new LockDump(lkb.Id, lkb.OwnerNode, 0, lkb.GrantedMode, lkb.RequestedMode, lkb.Status),
    };
}
