using Dlm.Protocol;

namespace Dlm.Core;

public sealed partial class LockspaceEngine
{
    private readonly Lock _recovery = new(); // guards the recovery fields below
    private readonly ReaderWriterLockSlim _receiveGate = new(); // spec §5.2 step 1: stop blocks the receive path briefly
    private readonly List<(int From, DlmMessage Message, byte[] Extra)> _requestQueue = []; // spec §5.9
    private readonly HashSet<int> _gone = []; // removed nodes not yet cleared by a completed recovery (spec §5.3 step 4)
    private readonly List<Action> _deferred = []; // unlocks and cancels asked for while stopped
    private TaskCompletionSource _runningGate = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private CancellationTokenSource? _recoveryCancel;
    private volatile bool _running;
    private bool _stopped;
    private ulong _recoverSeq;
    private RecoveryStatus _status;
    private long _recoveries;

    /// <summary>Test seam: called after locking is enabled and the saved messages replayed, before step 14.</summary>
    internal Action? BeforeResend { get; set; }

    /// <summary>True while locking is enabled (between a completed recovery and the next stop).</summary>
    public bool IsRunning => _running;

    /// <summary>This lockspace's recovery status bits (spec §5.4); 0 after a stop.</summary>
    public RecoveryStatus Status
    {
        get
        {
            lock (_recovery)
            {
                return _status;
            }
        }
    }

    /// <summary>The current members in ascending id order.</summary>
    public IReadOnlyList<int> Members => _directory?.Members ?? [LocalNodeId];

    /// <summary>Recoveries completed since the engine was created.</summary>
    public long Recoveries => Interlocked.Read(ref _recoveries);

    /// <summary>
    /// Stops the lockspace (spec §5.2): aborts a running recovery, blocks local locking (calls wait, or
    /// run when recovery ends), and from now on saves every incoming DLM_MSG for replay after recovery.
    /// Returns once operations in progress have left the engine. Idempotent.
    /// </summary>
    public void Stop()
    {
        CancellationTokenSource? aborted;
        _receiveGate.EnterWriteLock();
        try
        {
            lock (_recovery)
            {
                _recoverSeq++;
                _status = RecoveryStatus.None;
                _stopped = true;
                _slots.Clear();
                if (_running)
                {
                    _running = false;
                    _runningGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                aborted = _recoveryCancel;
                _recoveryCancel = null;
            }
        }
        finally
        {
            _receiveGate.ExitWriteLock();
        }

        _callbacks.Hold(); // spec §4.15: callbacks wait for the end of recovery
        aborted?.Cancel();
        foreach (var shard in _shards)
        {
            using (shard.Lock.EnterScope())
            {
                // An operation that saw the lockspace running has finished once its shard is free.
            }
        }
    }

    /// <summary>
    /// Runs recovery for a new membership (spec §5.3) on a stopped lockspace and enables locking when it
    /// completes. <paramref name="renewed"/> are members that left and joined again since the last start
    /// (a new incarnation: their old locks are purged). Returns false when a newer <see cref="Stop"/>
    /// superseded it; throws <see cref="DlmException"/> when a member's configuration differs (-EPROTO).
    /// </summary>
    public async Task<bool> RecoverAsync(IReadOnlyList<DirectoryMember> members, IReadOnlyCollection<int>? renewed = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(members);
        if (!members.Any(m => m.NodeId == LocalNodeId))
        {
            throw new ArgumentException($"Node {LocalNodeId} is not a member of the view it recovers.", nameof(members));
        }

        ulong seq;
        CancellationTokenSource cancel;
        lock (_recovery)
        {
            if (!_stopped)
            {
                throw new InvalidOperationException("Recovery starts only on a stopped lockspace (spec §5.3); call Stop first.");
            }

            seq = ++_recoverSeq;
            _stopped = false;
            cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _recoveryCancel = cancel;
        }

        try
        {
            await RunRecoveryAsync(seq, members, renewed ?? [], cancel.Token).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            EngineLog.RecoverySuperseded(_logger, Name, seq);
            return false;
        }
        finally
        {
            lock (_recovery)
            {
                if (_recoveryCancel == cancel)
                {
                    _recoveryCancel = null;
                }
            }

            cancel.Dispose();
        }
    }

    private async Task RunRecoveryAsync(ulong seq, IReadOnlyList<DirectoryMember> members, IReadOnlyCollection<int> renewed, CancellationToken ct)
    {
        var started = _time.GetTimestamp();
        DiscardInactive(); // step 2
        var removed = UpdateMembers(members, renewed); // step 4 (step 3, the root list, is the active resources)
        RecordOwnMasters(); // step 5
        await PingAsync(ct).ConfigureAwait(false);
        await BarrierAsync(RecoveryStatus.Nodes, ct).ConfigureAwait(false); // step 6
        await RebuildDirectoryAsync(ct).ConfigureAwait(false); // step 7
        await BarrierAsync(RecoveryStatus.Dir, ct).ConfigureAwait(false);
        PrepareWaiters(removed); // step 8
        if (removed.Count > 0)
        {
            PurgeRemoved(removed); // step 9a
            await RemasterAsync(removed, ct).ConfigureAwait(false);
            await BarrierAsync(RecoveryStatus.Locks, ct).ConfigureAwait(false);
            FinalizeMastered();
        }
        else
        {
            await BarrierAsync(RecoveryStatus.Locks, ct).ConfigureAwait(false); // step 9b
        }

        PurgeRequestQueue(removed); // step 10
        await BarrierAsync(RecoveryStatus.Done, ct).ConfigureAwait(false); // step 11
        if (!EnableLocking(seq)) // steps 12-13
        {
            ct.ThrowIfCancellationRequested();
            throw new OperationCanceledException();
        }

        BeforeResend?.Invoke(); // tests: the moment between enabling locking and step 14
        ResendWaiters(); // step 14
        GrantRecovered(); // step 15
        RunDeferred();
        if (!_running)
        {
            throw new OperationCanceledException(); // a newer stop came after locking was enabled: it has its own recovery
        }

        Interlocked.Increment(ref _recoveries);
        EngineLog.RecoveryDone(_logger, Name, seq, _generation, removed.Count, _time.GetElapsedTime(started).TotalMilliseconds);
    }

    // spec §5.3 step 4: the new member list; removed = no longer listed, listed again after leaving, or gone before.
    private HashSet<int> UpdateMembers(IReadOnlyList<DirectoryMember> members, IReadOnlyCollection<int> renewed)
    {
        var old = _directory?.Members ?? [LocalNodeId];
        var now = members.Select(m => m.NodeId).ToHashSet();
        lock (_recovery)
        {
            _gone.UnionWith(old.Where(id => !now.Contains(id)));
            _gone.UnionWith(renewed.Where(id => id != LocalNodeId));
            _directory = new DirectoryNodes(members);
            return [.. _gone];
        }
    }

    // spec §5.3 steps 12-13: enable locking if no newer stop came, then replay saved messages in arrival order.
    private bool EnableLocking(ulong seq)
    {
        _receiveGate.EnterWriteLock();
        try
        {
            TaskCompletionSource gate;
            lock (_recovery)
            {
                if (_recoverSeq != seq || _stopped)
                {
                    return false;
                }

                _gone.Clear();
                _running = true;
                gate = _runningGate;
            }

            // The callbacks held since the stop go first (spec §4.15), then those of the replayed messages.
            _callbacks.Release();

            // Messages arriving meanwhile wait on the gate, behind the saved ones (spec §5.9).
            foreach (var (from, message, extra) in _requestQueue)
            {
                Dispatch(from, message, extra);
            }

            _requestQueue.Clear();
            gate.TrySetResult();
            return true;
        }
        finally
        {
            _receiveGate.ExitWriteLock();
        }
    }

    // spec §5.9: before DONE, drop saved messages of removed nodes and all directory traffic.
    private void PurgeRequestQueue(HashSet<int> removed)
    {
        _receiveGate.EnterWriteLock();
        try
        {
            _requestQueue.RemoveAll(m => removed.Contains(m.From)
                || m.Message.Type is MessageType.Lookup or MessageType.LookupReply or MessageType.Remove);
        }
        finally
        {
            _receiveGate.ExitWriteLock();
        }
    }

    // Unlocks and cancels asked for while stopped run now, in the order they were asked.
    private void RunDeferred()
    {
        Action[] deferred;
        lock (_recovery)
        {
            deferred = [.. _deferred];
            _deferred.Clear();
        }

        foreach (var action in deferred)
        {
            action();
        }
    }

    /// <summary>
    /// The node can no longer prove it is a member (self-fencing, docs/membership.md): locking stops for
    /// good and every call waiting for recovery, a grant or a conversion fails now with the fenced error,
    /// instead of waiting for a recovery that will not come. Call only once the liveness check says so.
    /// </summary>
    public void Fence()
    {
        Stop();
        FailWaiting(Fenced());
    }

    // Stopped for good (fenced or disposed): every call waiting for recovery, a grant or a conversion ends
    // with the error, and so does every later call that would wait for locking to be enabled.
    private void FailWaiting(Exception error)
    {
        EngineLock[] marked;
        lock (_recovery)
        {
            _runningGate.TrySetException(error);
            marked = [.. _resend.Select(r => r.Lock)]; // waiters step 8 took off every queue and list but this one
        }

        foreach (var waiting in marked)
        {
            using (waiting.Resource.Shard.Lock.EnterScope())
            {
                FailPending(waiting, error);
            }
        }

        _callbacks.Release(); // no recovery will end: what was held goes now

        foreach (var (shard, resource) in ActiveResources())
        {
            using (shard.Lock.EnterScope())
            {
                var rsb = resource.Rsb;
                foreach (var waiting in rsb.Granted.Concat(rsb.Converting).Concat(rsb.Waiting).Concat(resource.AwaitingMaster ?? []).OfType<EngineLock>())
                {
                    FailPending(waiting, error);
                }
            }
        }

        foreach (var remote in _locks.Values.OfType<EngineLock>())
        {
            using (remote.Resource.Shard.Lock.EnterScope())
            {
                FailPending(remote, error);
            }
        }
    }

    // Under the shard lock: the waiting operation ends with the error (continuations run asynchronously).
    private static void FailPending(EngineLock engineLock, Exception error)
    {
        if (engineLock.Pending is { } pending)
        {
            engineLock.Pending = null;
            pending.TrySetException(error);
        }
    }

    // Stopped for recovery (spec §5.2): wait until locking is enabled again; a fenced node fails at once.
    // The caller checks _running once more under its shard lock and comes back here if a stop won the race.
    private async ValueTask WaitUntilRunningAsync(CancellationToken cancellationToken)
    {
        while (!_running)
        {
            ThrowIfFenced();
            Task gate;
            lock (_recovery)
            {
                gate = _runningGate.Task;
            }

            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // Under a shard lock: records an unlock or cancel to run after recovery; true when stopped.
    private bool Defer(Action action)
    {
        lock (_recovery)
        {
            if (_running)
            {
                return false;
            }

            _deferred.Add(action);
            return true;
        }
    }
}
