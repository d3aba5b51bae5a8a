using System.Collections.Concurrent;
using System.Text;
using Dlm.Core;
using Dlm.Protocol;

namespace Dlm;

/// <summary>What to ask for besides the mode.</summary>
public sealed record LockRequest
{
    /// <summary>Transfer the lock value block (VALBLK): read it on grant, write it back on unlock or down-conversion from PW/EX.</summary>
    public bool ValueBlock { get; init; }

    /// <summary>Called (off the engine's locks, in order) when another lock waits for the given mode: release or down-convert.</summary>
    public Action<LockHandle, LockMode>? Blocking { get; init; }

    /// <summary>
    /// Further DLM_LKF_* flags (HEADQUE, NOORDER, ALTPR, EXPEDITE, PERSISTENT, ...); invalid combinations throw.
    /// PERSISTENT applies to a <see cref="LockOwner"/>'s locks; ORPHAN is <see cref="LockOwner.AdoptOrphanAsync"/>.
    /// </summary>
    public LockFlags Flags { get; init; }
}

/// <summary>An orphan: a PERSISTENT lock the node keeps holding after its owner went away (spec §4.21).</summary>
/// <param name="Resource">The resource name.</param>
/// <param name="Mode">The mode it is held in; adopt it in this mode.</param>
/// <param name="OwnerId">The id of the owner that went away.</param>
/// <param name="LockId">The lock id on this node.</param>
public sealed record OrphanLock(string Resource, LockMode Mode, int OwnerId, uint LockId);

/// <summary>A joined lockspace: lock resources in it. Disposing leaves it.</summary>
public sealed class Lockspace : IAsyncDisposable
{
    private readonly DlmNode _node;
    private readonly ConcurrentDictionary<int, LockOwner> _owners = new();

    internal Lockspace(DlmNode node, LockspaceEngine engine, MembershipDriver driver)
    {
        _node = node;
        Engine = engine;
        Driver = driver;
    }

    /// <summary>The lockspace generation (spec §5.4): bumped by every completed recovery's coordinator.</summary>
    public uint Generation => Engine.Generation;

    /// <summary>This node's slot in the lockspace (1-based), e.g. a journal index.</summary>
    public int Slot => Engine.Slot;

    /// <summary>The members of the current view, in ascending id order.</summary>
    public IReadOnlyList<int> Members => Engine.Members;

    /// <summary>True while locking is enabled (false during recovery).</summary>
    public bool IsRunning => Engine.IsRunning;

    /// <summary>How long the last recovery took, from its membership view to locking enabled again.</summary>
    public TimeSpan LastRecoveryTime => Driver.LastRecoveryTime;

    /// <summary>Every completed recovery: the membership generation, how long it took from the view to locking enabled, when it ended.</summary>
    public IReadOnlyList<RecoveryRecord> RecoveryHistory => Driver.History;

    /// <summary>Master copies rebuilt on this node by recoveries (other nodes' locks on resources it took over).</summary>
    public long LocksRebuilt => Engine.LocksRebuilt;

    /// <summary>Recoveries completed (the join's first one included).</summary>
    public long Recoveries => Engine.Recoveries;

    internal MembershipDriver Driver { get; }

    /// <summary>A snapshot of the resources in use on this node and their locks (<c>dlm lockdump</c>).</summary>
    public IReadOnlyList<ResourceDump> Dump() => Engine.Dump();

    /// <summary>The lockspace name.</summary>
    public string Name => Engine.Name;

    /// <summary>The global id on the wire (spec §1.11).</summary>
    public uint GlobalId => Engine.GlobalId;

    /// <summary>Bytes in a value block.</summary>
    public int LvbLength => Engine.LvbLength;

    internal LockspaceEngine Engine { get; }

    /// <summary>
    /// Locks <paramref name="resource"/> (1..64 bytes of UTF-8) in <paramref name="mode"/>, waiting as
    /// long as it takes; cancelling <paramref name="cancellationToken"/> cancels the request on its master
    /// and throws <see cref="OperationCanceledException"/>.
    /// </summary>
    public async Task<LockHandle> LockAsync(string resource, LockMode mode, LockRequest? request = null, CancellationToken cancellationToken = default)
    {
        var handle = await RequestAsync(resource, mode, ThrowIfOwnerFlags(request), LockFlags.None, null, cancellationToken).ConfigureAwait(false);
        return handle ?? throw new LockNotAvailableException(resource, mode);
    }

    /// <summary>Like <see cref="LockAsync"/> but never waits (NOQUEUE): null when the lock is not available now.</summary>
    public Task<LockHandle?> TryLockAsync(string resource, LockMode mode, LockRequest? request = null, CancellationToken cancellationToken = default) =>
        RequestAsync(resource, mode, ThrowIfOwnerFlags(request), LockFlags.NoQueue, null, cancellationToken);

    /// <summary>
    /// Opens a lock owner: what the DLM calls a process (spec §4.21). <paramref name="id"/> (≥ 1, unique among the
    /// open owners of this lockspace) goes on the wire as the owner's pid, and <see cref="PurgeOrphans(int)"/> matches by it.
    /// </summary>
    public LockOwner CreateOwner(int id)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(id, 1);
        var owner = new LockOwner(this, id);
        if (!_owners.TryAdd(id, owner))
        {
            throw new ArgumentException($"Lock owner {id} is open in lockspace '{Name}'; dispose it first or use another id.", nameof(id));
        }

        return owner;
    }

    /// <summary>The orphans this node holds in this lockspace (spec §4.21).</summary>
    public IReadOnlyList<OrphanLock> Orphans =>
        [.. Engine.Orphans.Select(o => new OrphanLock(Encoding.UTF8.GetString(o.Name.Span), o.Mode, o.OwnerPid, o.Id))];

    /// <summary>Unlocks the orphans held here that owner <paramref name="ownerId"/> left (0: every orphan); returns how many (spec §4.21 PURGE).</summary>
    public int PurgeOrphans(int ownerId = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ownerId);
        return Engine.PurgeOrphans(ownerId);
    }

    /// <summary>Asks member <paramref name="nodeId"/> to unlock the orphans of <paramref name="ownerId"/> it holds (0: all) with DLM_MSG_PURGE; no answer comes back (spec §4.21).</summary>
    public void PurgeOrphans(int nodeId, int ownerId)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ownerId);
        Engine.SendPurge(nodeId, ownerId);
    }

    /// <summary>Leaves the lockspace.</summary>
    public ValueTask DisposeAsync() => _node.LeaveAsync(this);

    internal void Closed(LockOwner owner) => _owners.TryRemove(KeyValuePair.Create(owner.Id, owner));

    private static LockRequest? ThrowIfOwnerFlags(LockRequest? request)
    {
        if (request is not null && (request.Flags & (LockFlags.Persistent | LockFlags.Orphan)) != 0)
        {
            throw new ArgumentException("PERSISTENT and ORPHAN apply to the locks of a LockOwner (Lockspace.CreateOwner): "
                + "the lockspace's own locks end when it is left. Lock through an owner, and adopt orphans with LockOwner.AdoptOrphanAsync.", nameof(request));
        }

        return request;
    }

    internal async Task<LockHandle?> RequestAsync(string resource, LockMode mode, LockRequest? request, LockFlags extra, LockOwner? owner,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(resource);
        request ??= new LockRequest();
        var flags = request.Flags | extra | (request.ValueBlock ? LockFlags.ValBlk : LockFlags.None);
        var handle = new LockHandle(this, resource, owner, (flags & LockFlags.Persistent) != 0);
        var blocking = request.Blocking;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        // A PERSISTENT lock always asks its master for BASTs: whoever adopts it as an orphan may want them (spec §4.21).
        Action<EngineLock, LockMode>? callback = blocking is null && (flags & LockFlags.Persistent) == 0 ? null : (granted, m) =>
        {
            if (blocking is null)
            {
                return;
            }

            // A blocking callback can run before this method resumes: attach first, so releasing works.
            handle.Attach(granted);
            LockMetrics.BlockingCallbacks.Add(1);
            blocking(handle, m);
        };
        var name = Encoding.UTF8.GetBytes(resource);
        var (engineLock, result) = (flags & LockFlags.Orphan) != 0
            ? Engine.AdoptOrphan(name, mode, flags, owner?.Id ?? 0, callback)
            : await Engine.RequestAsync(name, mode, flags, callback, owner?.Id ?? 0, cancellationToken).ConfigureAwait(false);
        switch (result)
        {
            case Errno.Ok:
                LockMetrics.Requested("granted", started);
                handle.Attach(engineLock!);
                owner?.Track(handle);
                return handle;
            case Errno.NoEntry when (flags & LockFlags.Orphan) != 0:
                return null; // no orphan of the resource to adopt
            case Errno.Again when (flags & LockFlags.Orphan) != 0:
                throw new OrphanModeMismatchException(resource, mode);
            case Errno.Again:
                LockMetrics.Requested("not_available", started);
                return null;
            case Errno.Cancelled:
                LockMetrics.Requested("cancelled", started);
                throw new OperationCanceledException($"The request for '{resource}' was cancelled before it was granted.", cancellationToken);
            default:
                LockMetrics.Requested("failed", started);
                throw new LockFailedException(resource, result);
        }
    }
}

/// <summary>A granted lock. Disposing it unlocks.</summary>
public sealed class LockHandle : IAsyncDisposable
{
    private readonly Lockspace _lockspace;
    private readonly LockOwner? _owner;
    private readonly bool _persistent;
    private EngineLock? _lock;
    private int _attached;

    internal LockHandle(Lockspace lockspace, string resource, LockOwner? owner, bool persistent)
    {
        _lockspace = lockspace;
        Resource = resource;
        _owner = owner;
        _persistent = persistent;
    }

    /// <summary>The resource.</summary>
    public string Resource { get; }

    /// <summary>The granted mode.</summary>
    public LockMode Mode => _lock?.Mode ?? LockMode.Invalid;

    /// <summary>The lock's value block (empty without <see cref="LockRequest.ValueBlock"/>); write it before unlocking or down-converting from PW/EX.</summary>
    public Memory<byte> ValueBlock => _lock?.ValueBlock;

    /// <summary>The value block cannot be trusted (spec §4.13 VALNOTVALID).</summary>
    public bool ValueNotValid => (_lock?.StatusFlags & StatusBlockFlags.ValNotValid) != 0;

    /// <summary>Granted in the alternate mode (ALTPR/ALTCW).</summary>
    public bool AlternateMode => (_lock?.StatusFlags & StatusBlockFlags.AltMode) != 0;

    /// <summary>Demoted to NL to break a conversion deadlock (CONVDEADLK).</summary>
    public bool Demoted => (_lock?.StatusFlags & StatusBlockFlags.Demoted) != 0;

    /// <summary>True when the resource is mastered on this node, so operations on it need no network.</summary>
    public bool MasteredLocally => _lock?.IsMasteredLocally ?? false;

    /// <summary>The lock id on this node.</summary>
    public uint LockId => _lock?.Id ?? 0;

    internal bool IsReleased => Volatile.Read(ref _attached) != 0 && Volatile.Read(ref _lock) is null;

    // Once only: a handle released from its blocking callback is not brought back by the grant's return.
    internal void Attach(EngineLock engineLock)
    {
        if (Interlocked.Exchange(ref _attached, 1) == 0)
        {
            _lock = engineLock;
        }
    }

    /// <summary>Converts in place (spec §4.9); throws when refused or deadlocked, the lock keeping its mode.</summary>
    public async Task ConvertAsync(LockMode mode, LockFlags flags = LockFlags.None, CancellationToken cancellationToken = default)
    {
        var engineLock = _lock ?? throw new ObjectDisposedException(nameof(LockHandle), $"The lock on '{Resource}' was released.");
        var kept = (engineLock.ValueBlock is not null ? LockFlags.ValBlk : LockFlags.None) | (_persistent ? LockFlags.Persistent : LockFlags.None);
        var result = await _lockspace.Engine.ConvertAsync(engineLock, mode, flags | kept, cancellationToken).ConfigureAwait(false);
        LockMetrics.Conversions.Add(1, new KeyValuePair<string, object?>("result", Errno.NameOf(result)));
        switch (result)
        {
            case Errno.Ok:
                return;
            case Errno.Again:
                throw new LockNotAvailableException(Resource, mode);
            case Errno.Deadlock:
                throw new ConversionDeadlockException(Resource);
            case Errno.Cancelled:
                throw new OperationCanceledException($"The conversion of '{Resource}' was cancelled; the lock keeps its mode.", cancellationToken);
            default:
                throw new LockFailedException(Resource, result);
        }
    }

    /// <summary>Unlocks; the value block is written back from PW/EX when requested with it. Idempotent.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _lock, null) is { } engineLock)
        {
            _owner?.Untrack(this);
            var valueBlock = engineLock.ValueBlock is not null ? LockFlags.ValBlk : LockFlags.None;
            _lockspace.Engine.Unlock(engineLock, valueBlock | LockFlags.ForceUnlock);
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Its owner went away (spec §4.21): a granted PERSISTENT lock becomes an orphan, any other is unlocked.</summary>
    internal void OwnerGone()
    {
        if (Interlocked.Exchange(ref _lock, null) is not { } engineLock)
        {
            return;
        }

        if (!_persistent || _lockspace.Engine.Orphan(engineLock) != Errno.Ok)
        {
            var valueBlock = engineLock.ValueBlock is not null ? LockFlags.ValBlk : LockFlags.None;
            _lockspace.Engine.Unlock(engineLock, valueBlock | LockFlags.ForceUnlock);
        }
    }
}
