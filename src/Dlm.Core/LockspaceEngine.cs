using System.Numerics;
using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>
/// One lockspace's lock engine on this node, for resources mastered here (spec §4.1, §4.9): the
/// resource table sharded by name hash so independent resources proceed in parallel, lock ids,
/// value blocks, completions and blocking callbacks delivered in order off the engine's locks.
/// Remote masters, the directory and recovery build on it (spec §4.17–§5).
/// </summary>
public sealed partial class LockspaceEngine : IAsyncDisposable
{
    private readonly Shard[] _shards;
    private readonly CallbackQueue _callbacks = new();
    private readonly TimeProvider _time;
    private readonly Func<bool>? _isLive;
    private readonly ITimer _sweeper;
    private readonly IEngineOutbox? _outbox;
    private readonly Microsoft.Extensions.Logging.ILogger _logger;
    private volatile DirectoryNodes? _directory; // replaced by recovery (spec §5.3 step 4)
    private readonly System.Collections.Concurrent.ConcurrentDictionary<uint, Lkb> _locks = new(); // master copies by our lock id
    private int _lastLockId;
    private long _droppedMessages;

    /// <summary>
    /// Creates the engine of lockspace <paramref name="name"/> with LVBs of <paramref name="lvbLength"/> bytes.
    /// Unused resources stay cached for <paramref name="tossTime"/> (default 10 s, the kernel's toss_secs, spec §6.1).
    /// </summary>
    /// <param name="name">Lockspace name, 1..64 bytes.</param>
    /// <param name="lvbLength">LVB length, a multiple of 8.</param>
    /// <param name="shardCount">Resource table shards (independent resources proceed in parallel), rounded up to a power of two.</param>
    /// <param name="tossTime">How long an unused resource stays cached.</param>
    /// <param name="timeProvider">Time source for the cache sweeper.</param>
    /// <param name="outbox">Where messages to other nodes go (replies, GRANT, BAST); null for a single node.</param>
    /// <param name="localNodeId">This node's id (with <paramref name="directory"/>).</param>
    /// <param name="directory">The lockspace members' directory (spec §1.11); null for a single node that masters everything.</param>
    /// <param name="logger">Where dropped or refused messages are logged.</param>
    /// <param name="startStopped">True when membership drives the engine: it starts stopped and runs after its first <see cref="RecoverAsync"/>.</param>
    /// <param name="isLive">
    /// Asked before every grant to a local caller: false when this node can no longer prove its membership
    /// (e.g. its etcd lease may have expired), so it must not act on locks it may have lost (self-fencing).
    /// </param>
    public LockspaceEngine(string name, int lvbLength, int shardCount = 64, TimeSpan? tossTime = null, TimeProvider? timeProvider = null,
        IEngineOutbox? outbox = null, int localNodeId = 1, DirectoryNodes? directory = null, Microsoft.Extensions.Logging.ILogger? logger = null,
        bool startStopped = false, Func<bool>? isLive = null)
    {
        _isLive = isLive;
        ArgumentNullException.ThrowIfNull(name);
        if (!WireLimits.IsValidValueBlockLength(lvbLength))
        {
            throw new ArgumentOutOfRangeException(nameof(lvbLength), lvbLength, "An LVB length is a multiple of 8 (0 allowed, spec §1.10).");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1, nameof(shardCount));
        Name = name;
        GlobalId = LockspaceId.Compute(name);
        LvbLength = lvbLength;
        _shards = Enumerable.Range(0, (int)BitOperations.RoundUpToPowerOf2((uint)shardCount)).Select(_ => new Shard()).ToArray();
        _outbox = outbox;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        LocalNodeId = localNodeId;
        _directory = directory;
        _time = timeProvider ?? TimeProvider.System;
        TossTime = tossTime ?? TimeSpan.FromSeconds(10);
        _stopped = startStopped;
        _running = !startStopped;
        if (_running)
        {
            _runningGate.SetResult();
        }

        _sweeper = _time.CreateTimer(static state => ((LockspaceEngine)state!).Sweep(), this, TossTime, TossTime);
    }

    /// <summary>This node's id.</summary>
    public int LocalNodeId { get; }

    /// <summary>How long an unused resource stays cached.</summary>
    public TimeSpan TossTime { get; }

    /// <summary>
    /// Frees the resources unused for at least <see cref="TossTime"/>, seen unused by an earlier sweep
    /// (so a resource stays cached one to two toss times, like the kernel's scan); runs on a timer every toss time.
    /// A resource mastered here leaves the directory with it: our own record is dropped, another
    /// directory node gets a REMOVE (spec §4.17).
    /// </summary>
    public int Sweep()
    {
        if (!_running)
        {
            return 0; // recovery owns the resource table while stopped
        }

        var freed = 0;
        var now = _time.GetTimestamp();
        foreach (var shard in _shards)
        {
            using (shard.Lock.EnterScope())
            {
                if (shard.Unused == 0)
                {
                    continue;
                }

                foreach (var (key, resource) in shard.Resources.Entries())
                {
                    if (resource.Cached && resource.UnusedSince == 0)
                    {
                        resource.UnusedSince = now; // first seen unused: freed one toss time from now
                    }
                    else if (resource.Cached && _time.GetElapsedTime(resource.UnusedSince, now) >= TossTime)
                    {
                        shard.Resources.Remove(key);
                        shard.Unused--;
                        freed++;
                        if (_directory is not null && resource.Master == LocalNodeId)
                        {
                            var directoryNode = _directory.NodeFor(ResourceHash.Compute(key));
                            if (directoryNode == LocalNodeId)
                            {
                                shard.Directory.Remove(key);
                            }
                            else
                            {
                                // Sent under the shard lock: a later LOOKUP for this name from here queues
                                // behind this REMOVE on the same peer, so the directory never forgets a
                                // master it has just named to us again (spec §4.17).
                                var remove = new DlmMessage { Type = MessageType.Remove, Hash = ResourceHash.Compute(key), GrantedMode = LockMode.Invalid, RequestedMode = LockMode.Invalid };
                                _outbox?.Send(directoryNode, GlobalId, remove, key);
                            }
                        }
                    }
                }
            }
        }

        return freed;
    }

    // spec §4.17 "directory node receiving REMOVE": only for names that hash to us, only when the sender
    // is the recorded master and nobody here uses the resource; otherwise ignored (and counted).
    private void ReceiveRemove(int from, ReadOnlySpan<byte> name)
    {
        var hashed = new HashedName(name);
        var shard = ShardOf(hashed.Hash);
        using (shard.Lock.EnterScope())
        {
            var records = shard.Directory.GetAlternateLookup<ReadOnlySpan<byte>>();
            var active = shard.Resources.TryGetValue(hashed, out var resource) && resource.References > 0;
            if (_directory?.NodeFor(ResourceHash.Compute(name)) == LocalNodeId && !active
                && records.TryGetValue(name, out var master) && master == from)
            {
                records.Remove(name);
                if (resource is not null)
                {
                    resource.Master = 0; // our cached copy's master is gone too
                }

                return;
            }
        }

        Interlocked.Increment(ref _droppedMessages);
    }

    /// <summary>The lockspace name.</summary>
    public string Name { get; }

    /// <summary>The lockspace global id (spec §1.11).</summary>
    public uint GlobalId { get; }

    /// <summary>Bytes in a lock value block.</summary>
    public int LvbLength { get; }

    /// <summary>Resources with at least one lock.</summary>
    public int ResourceCount => _shards.Sum(s =>
    {
        using (s.Lock.EnterScope())
        {
            return s.Resources.Count - s.Unused;
        }
    });

    /// <summary>Resources cached without locks, waiting for the toss time.</summary>
    public int CachedResourceCount => _shards.Sum(s =>
    {
        using (s.Lock.EnterScope())
        {
            return s.Unused;
        }
    });

    /// <summary>Callbacks held until the running recovery ends (spec §4.15).</summary>
    internal int HeldCallbacks => _callbacks.HeldCount;

    /// <summary>Blocking callbacks that threw (they are caught and counted).</summary>
    public long CallbackFailures => Interlocked.Read(ref _callbacks.CallbackFailures);

    /// <summary>
    /// Stops the sweeper and callback delivery after the callbacks already generated; calls still waiting (for a
    /// grant, a conversion or the end of a recovery) and later ones end with <see cref="ObjectDisposedException"/>.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        await _sweeper.DisposeAsync().ConfigureAwait(false);
        Stop(); // the receive gate stays usable: a receive thread may still be on its way in
        FailWaiting(new ObjectDisposedException(nameof(LockspaceEngine), $"Lockspace '{Name}' was disposed."));
        await _callbacks.DisposeAsync().ConfigureAwait(false);
    }

    // Under the shard lock, before a grant can reach a local caller (docs/membership.md, self-fencing).
    private void ThrowIfFenced()
    {
        if (_isLive is not null && !_isLive())
        {
            throw Fenced();
        }
    }

    private DlmException Fenced() => new($"Lockspace '{Name}': node {LocalNodeId} can no longer prove it is a member (fenced); it grants no lock.");

    private Shard ShardOf(ReadOnlySpan<byte> name) => ShardOf(ResourceNames.Hash(name));

    private Shard ShardOf(uint hash) => _shards[(int)(hash & (uint)(_shards.Length - 1))]; // a power of two: a mask, not a division

    // Under the shard lock: a node-wide unique lock id (≥ 1, spec §1.11). Each shard takes ids from the
    // engine's counter a block at a time, so a lock costs no interlocked operation of its own.
    private uint NextLockId(Shard shard)
    {
        if (shard.NextId == shard.IdsEnd)
        {
            var end = (uint)Interlocked.Add(ref _lastLockId, Shard.IdBlock);
            (shard.NextId, shard.IdsEnd) = (end - Shard.IdBlock + 1, end + 1);
        }

        var id = shard.NextId++;
        return id == 0 ? NextLockId(shard) : id; // 0 is skipped when the counter wraps
    }

    // Effects are recorded under the shard lock and delivered after it is released.
    internal sealed class Shard : IGrantEffects
    {
        private readonly List<(EngineLock Lock, LockMode Bast, TaskCompletionSource<int>? Operation)> _effects = [];
        private readonly List<(MasterCopy Copy, LockMode Bast)> _remoteEffects = [];

        public ShardLock Lock { get; } = new();

        public ResourceTable Resources { get; } = new();

        public bool HasEffects => _effects.Count > 0;

        public bool HasRemoteEffects => _remoteEffects.Count > 0;

        /// <summary>Lock ids a shard takes from the engine's counter at once (see NextLockId).</summary>
        public const int IdBlock = 64;

        /// <summary>The shard's next lock id and the end of its block (exclusive); equal when the block is used up.</summary>
        public uint NextId, IdsEnd;

        /// <summary>Directory records for names whose directory node is this node: name → master (spec §4.17).</summary>
        public Dictionary<byte[], int> Directory { get; } = new(ResourceNames.Comparer);

        /// <summary>Cached resources without locks.</summary>
        public int Unused { get; set; }

        // A queued request or conversion was granted: its awaiting call completes with 0 (spec §4.9).
        public void Granted(Lkb lkb)
        {
            if (lkb is MasterCopy copy)
            {
                _remoteEffects.Add((copy, LockMode.Invalid)); // a GRANT message to the owner (spec §4.18)
                return;
            }

            var owner = (EngineLock)lkb;
            owner.StatusFlags = lkb.SbFlags;
            owner.LastCastMode = lkb.GrantedMode;
            owner.LastBastMode = LockMode.Invalid;
            _effects.Add((owner, LockMode.Invalid, owner.Pending));
            owner.Pending = null;
        }

        // spec §4.15: BASTs are hints; skip one that cannot matter or repeats the last.
        public void Blocking(Lkb lkb, LockMode mode)
        {
            if (lkb is MasterCopy copy)
            {
                _remoteEffects.Add((copy, mode)); // a BAST message; the owner applies the §4.15 suppression
                return;
            }

            var owner = (EngineLock)lkb;
            if (owner.Blocking is null
                || owner.IsOrphan // its owner is gone; the adopter gets the BASTs that come after (spec §4.21)
                || (owner.LastCastMode != LockMode.Invalid && ModeTables.Compatible(owner.LastCastMode, mode))
                || owner.LastBastMode == mode
                || (owner.LastBastMode > mode && owner.LastBastMode > LockMode.ProtectedRead))
            {
                return;
            }

            owner.LastBastMode = mode;
            _effects.Add((owner, mode, null));
        }

        public (MasterCopy Copy, LockMode Bast)[] TakeRemoteEffects()
        {
            if (_remoteEffects.Count == 0)
            {
                return [];
            }

            var taken = _remoteEffects.ToArray();
            _remoteEffects.Clear();
            return taken;
        }

        public (EngineLock Lock, LockMode Bast, TaskCompletionSource<int>? Operation)[] TakeEffects()
        {
            var taken = _effects.ToArray();
            _effects.Clear();
            return taken;
        }
    }

    private void Deliver((EngineLock Lock, LockMode Bast, TaskCompletionSource<int>? Operation)[] effects)
    {
        var live = _isLive?.Invoke() ?? true;
        foreach (var (owner, bast, operation) in effects)
        {
            if (operation is not null && !live)
            {
                operation.TrySetException(Fenced()); // a queued grant this node may no longer act on
            }
            else if (operation is not null)
            {
                _callbacks.Complete(operation, Errno.Ok);
            }
            else if (bast != LockMode.Invalid)
            {
                _callbacks.Blocking(owner, bast);
            }
        }
    }
}
