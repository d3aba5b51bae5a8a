using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>
/// The owner's side of one lock in a <see cref="LockspaceEngine"/>: the lkb itself, its resource,
/// the operation in flight and the callbacks. Fields are guarded by the resource's shard lock.
/// </summary>
public sealed class EngineLock : Lkb
{
    internal EngineLock(Resource resource, uint id, LockMode mode, LockFlags flags, Action<EngineLock, LockMode>? blocking)
        : base(id, mode, flags, blocking is not null)
    {
        Resource = resource;
        if (blocking is not null)
        {
            Blocking = blocking; // a reference store costs a write barrier: none for the usual null
        }
    }

    /// <summary>The granted mode (IV before the first grant and after unlock).</summary>
    public LockMode Mode => GrantedMode;

    /// <summary>Status-block flags of the last completed operation (DEMOTED, VALNOTVALID, ALTMODE).</summary>
    public StatusBlockFlags StatusFlags { get; internal set; }

    /// <summary>True when the resource is mastered on this node (no network per operation).</summary>
    public bool IsMasteredLocally => Engine.IsLocalMaster(Resource);

    /// <summary>The resource name.</summary>
    public ReadOnlyMemory<byte> Name => Resource.Rsb.Name;

    internal LockspaceEngine Engine => Resource.Engine;

    internal Resource Resource { get; }

    /// <summary>The blocking callback; replaced when an orphan is adopted (spec §4.21).</summary>
    internal Action<EngineLock, LockMode>? Blocking { get; set; }

    /// <summary>The owner's process id (<c>m_pid</c>), which PURGE matches orphans by (spec §4.21).</summary>
    public int OwnerPid { get; internal set; }

    /// <summary>Held by the node for an owner that went away (PERSISTENT, spec §4.21): no callbacks until adopted.</summary>
    /// <remarks>Read off the shard lock by the callback queue, hence volatile.</remarks>
    public bool IsOrphan
    {
        get => Volatile.Read(ref _orphan);
        internal set => Volatile.Write(ref _orphan, value);
    }

    private bool _orphan;

    /// <summary>The completion of a queued request or conversion.</summary>
    internal TaskCompletionSource<int>? Pending { get; set; }

    /// <summary>Mode of the last completion, for BAST suppression (spec §4.15).</summary>
    internal LockMode LastCastMode { get => (LockMode)_lastCast; set => _lastCast = (sbyte)value; }

    /// <summary>Mode of the last BAST queued since the last completion, for suppression (spec §4.15).</summary>
    internal LockMode LastBastMode { get => (LockMode)_lastBast; set => _lastBast = (sbyte)value; }

    private sbyte _lastCast = (sbyte)LockMode.Invalid, _lastBast = (sbyte)LockMode.Invalid; // single bytes, as in Lkb

    internal bool Released { get; set; }

    /// <summary>The master's lock id for a lock mastered elsewhere (spec §4.1 process copy).</summary>
    internal uint RemoteId { get; set; }

    /// <summary>
    /// CANCEL or FORCEUNLOCK asked for while the request had no answer from its master (or the directory)
    /// yet, done when the answer comes (spec §4.19); <see cref="LockFlags.None"/> otherwise.
    /// </summary>
    internal LockFlags Overlap { get; set; }

    /// <summary>What the request completes with when its overlapping cancel or unlock wins: -DLM_EUNLOCK or -DLM_ECANCEL.</summary>
    internal int OverlapResult => Overlap == LockFlags.ForceUnlock ? Errno.Unlocked : Errno.Cancelled;

    /// <summary>A REQUEST or up-CONVERT is out and its reply has not arrived (a "waiter", spec §5.7).</summary>
    internal bool AwaitingReply { get; set; }

    /// <summary>
    /// Marked by recovery step 8 for step 14 (spec §5.7; the kernel's DLM_IFL_RESEND): the request or conversion goes
    /// again, unless a saved REQUEST_REPLY replayed before step 14 settles it first (a LOOKUP answered as a REQUEST).
    /// </summary>
    internal bool ResendPending { get; set; }

    /// <summary>A CANCEL went to the master and its reply has not arrived.</summary>
    internal bool CancelSent { get; set; }

    /// <summary>Unlocked while the lockspace was stopped: the unlock runs when recovery ends (spec §5.2).</summary>
    internal bool UnlockDeferred { get; set; }
}

/// <summary>A resource in a lockspace engine: its master copy and how many locks reference it.</summary>
public sealed class Resource
{
    internal Resource(LockspaceEngine engine, byte[] name, LockspaceEngine.Shard shard)
    {
        Engine = engine;
        Rsb = new Rsb(name, engine.LvbLength);
        Shard = shard;
    }

    internal LockspaceEngine Engine { get; }

    /// <summary>The shard that owns this resource (found once, by the name's hash).</summary>
    internal LockspaceEngine.Shard Shard { get; }

    internal Rsb Rsb { get; }

    internal int References { get; set; }

    /// <summary>The master node: the local node id when mastered here, 0 while unknown (spec §4.17).</summary>
    internal int Master { get; set; }

    /// <summary>
    /// Recovery moved it to a new master and our locks are not all rebuilt there yet (RCOM_LOCK, spec §5.8).
    /// Set until every LOCK_REPLY is in, so a recovery aborted meanwhile leaves the next one to rebuild
    /// them again (the kernel's RSB_NEW_MASTER); the new master answers a copy it has with -EEXIST.
    /// </summary>
    internal bool RebuildPending { get; set; }

    /// <summary>A LOOKUP (or first REQUEST) is out; other requests wait for its answer (spec §4.17 step 3).</summary>
    internal bool LookupInFlight { get; set; }

    /// <summary>Local requests waiting for the master to be known.</summary>
    internal List<EngineLock>? AwaitingMaster { get; set; }

    /// <summary>True while no lock uses it: kept for reuse until the toss time passes (spec §4.17).</summary>
    internal bool Cached { get; set; }

    /// <summary>When the sweeper first saw it unused (timestamp of the engine's time provider), 0 until then.</summary>
    internal long UnusedSince { get; set; }
}
