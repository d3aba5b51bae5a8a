using Dlm.Core;
using Dlm.Membership;
using Dlm.Messaging;
using Dlm.Protocol;
using Microsoft.Extensions.Logging;

namespace Dlm;

/// <summary>
/// Drives one joined lockspace through its membership views (spec §5.1 rules, docs/membership.md):
/// on every view stop the lockspace, wait for the stop barrier, follow the members in messaging, then
/// recover. A newer view aborts what the previous one was doing. Runs until the lockspace is left.
/// </summary>
internal sealed partial class MembershipDriver : IAsyncDisposable
{
    private readonly LockspaceEngine _engine;
    private readonly IMembershipProvider _provider;
    private readonly PeerIncarnations _incarnations;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _joined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<int, long> _peers = []; // peers counted in messaging → their incarnation
    private readonly HashSet<int> _departed = []; // left, failed or renewed since the last completed recovery
    private readonly TimeProvider _time;
    private Task _loop = Task.CompletedTask;
    private long _recoveryStarted;

    public MembershipDriver(LockspaceEngine engine, IMembershipProvider provider, PeerIncarnations incarnations, TimeProvider time, ILogger logger)
    {
        _engine = engine;
        _provider = provider;
        _incarnations = incarnations;
        _time = time;
        _logger = logger;
    }

    /// <summary>Completes when the first recovery finished (the join is done), or fails with its error.</summary>
    public Task Joined => _joined.Task;

    /// <summary>The view being applied or last applied.</summary>
    public MembershipView? View { get; private set; }

    private readonly List<RecoveryRecord> _history = [];

    /// <summary>Time of the last recovery, from the view's arrival to locking enabled again.</summary>
    public TimeSpan LastRecoveryTime { get; private set; }

    /// <summary>Every completed recovery.</summary>
    public IReadOnlyList<RecoveryRecord> History
    {
        get
        {
            lock (_history)
            {
                return [.. _history];
            }
        }
    }

    public void Start(MembershipView first) => _loop = RunAsync(first);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // leaving
        }
#pragma warning disable CA1031 // leaving must uncount the members whatever ended the loop (ObserveAsync logged it)
        catch (Exception e)
#pragma warning restore CA1031
        {
            DriverLog.LoopFailed(_logger, _engine.Name, e);
        }

        // Uncount the members in midcomms: the last lockspace to drop a peer ends its CLOSE_WAIT (spec §2.9).
        foreach (var (peer, incarnation) in _peers)
        {
            await _incarnations.RemoveAsync(peer, incarnation, failed: false).ConfigureAwait(false);
        }

        _peers.Clear();
        _stop.Dispose();
    }

    private async Task RunAsync(MembershipView first)
    {
        var views = _provider.ViewsAsync(_engine.Name, _stop.Token).GetAsyncEnumerator(_stop.Token);
        var next = views.MoveNextAsync().AsTask();
        try
        {
            var view = first;
            while (true)
            {
                using var applying = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                var apply = ApplyAsync(view, applying.Token);
                if (await Task.WhenAny(apply, next).ConfigureAwait(false) == apply)
                {
                    await ObserveAsync(apply).ConfigureAwait(false);
                }
                else
                {
                    // A newer view: abort this one (a running recovery is stopped by the next Stop).
                    await applying.CancelAsync().ConfigureAwait(false);
                    _engine.Stop();
                    await ObserveAsync(apply).ConfigureAwait(false);
                }

                if (!await next.ConfigureAwait(false))
                {
                    _joined.TrySetException(new DlmException($"Lockspace '{_engine.Name}': the membership ended before the join completed."));
                    return;
                }

                view = views.Current;
                next = views.MoveNextAsync().AsTask();
            }
        }
        finally
        {
            // An async iterator cannot be disposed while a MoveNextAsync is pending: let it end first (it sees _stop).
            await _stop.CancelAsync().ConfigureAwait(false);
            await next.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            await views.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task ObserveAsync(Task apply)
    {
        try
        {
            await apply.ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
        {
            // superseded by a newer view
        }
        catch (DlmException e)
        {
            DriverLog.RecoveryFailed(_logger, _engine.Name, e.Message);
            _joined.TrySetException(e); // e.g. a configuration mismatch (-EPROTO): the join fails
        }
#pragma warning disable CA1031 // e.g. the membership service failing a barrier: the driver must live on for the next view
        catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
        {
            // The lockspace stays stopped until a newer view recovers it; a join in progress fails now
            // instead of waiting for good.
            DriverLog.RecoveryFailed(_logger, _engine.Name, e.Message);
            _joined.TrySetException(new DlmException($"Lockspace '{_engine.Name}': recovery failed: {e.Message}", e));
        }
    }

    private async Task ApplyAsync(MembershipView view, CancellationToken ct)
    {
        View = view;
        _recoveryStarted = _time.GetTimestamp();
        _engine.Stop(); // spec §5.2
        foreach (var member in view.Members.Where(m => m.NodeId != _engine.LocalNodeId && !_peers.ContainsKey(m.NodeId)))
        {
            await TrackAsync(member).ConfigureAwait(false); // connects eagerly (spec §3.3)
        }

        // Before announcing our stop: a node that failed or came back as a new incarnation gets a clean
        // sequence space here before it can pass the barrier and send us sequenced recovery traffic.
        var current = view.Members.ToDictionary(m => m.NodeId);
        var failed = view.Left.Where(l => l.Reason != LeaveReason.Leave).Select(l => l.Member.NodeId).ToHashSet();
        foreach (var (peer, incarnation) in _peers.ToArray())
        {
            var gone = !current.TryGetValue(peer, out var member);
            if (gone || member!.Incarnation != incarnation)
            {
                // Failed or back as a new incarnation: its midcomms state is dropped (spec §2.9 close by
                // configuration), once for the whole node, whichever lockspace sees it first (PeerIncarnations).
                _departed.Add(peer); // its old locks are purged by the next recovery that completes, even if this view is superseded
                _peers.Remove(peer);
                await _incarnations.RemoveAsync(peer, incarnation, failed.Contains(peer)).ConfigureAwait(false);
                if (!gone)
                {
                    await TrackAsync(member!).ConfigureAwait(false);
                }
            }
        }

        if (!await _provider.AwaitAllStoppedAsync(_engine.Name, view.Generation, ct).ConfigureAwait(false))
        {
            return; // superseded: the newer view follows
        }

        var renewed = _departed.Where(current.ContainsKey)
            .Concat(view.Joined.Where(j => view.Left.Any(l => l.Member.NodeId == j.NodeId)).Select(j => j.NodeId)).Distinct().ToList();
        var members = view.Members.Select(m => new DirectoryMember(m.NodeId, m.Weight)).ToList();
        DriverLog.Recovering(_logger, _engine.Name, view.Generation, string.Join(",", members.Select(m => m.NodeId)));
        if (await _engine.RecoverAsync(members, renewed, ct).ConfigureAwait(false))
        {
            LastRecoveryTime = _time.GetElapsedTime(_recoveryStarted);
            _departed.Clear();
            lock (_history)
            {
                _history.Add(new RecoveryRecord(view.Generation, LastRecoveryTime, _time.GetTimestamp()));
            }

            _joined.TrySetResult();
        }
    }

    // Counts the member in midcomms unless its incarnation was closed already (a view older than another
    // lockspace's): then it is not tracked, and the next view says what became of it.
    private async Task TrackAsync(Member member)
    {
        if (await _incarnations.AddAsync(member.NodeId, member.Incarnation).ConfigureAwait(false))
        {
            _peers[member.NodeId] = member.Incarnation;
        }
    }

    private static partial class DriverLog
    {
        [LoggerMessage(1300, LogLevel.Information, "Lockspace {Lockspace}: view generation {Generation}, members {Members}: recovering")]
        public static partial void Recovering(ILogger logger, string lockspace, long generation, string members);

        [LoggerMessage(1301, LogLevel.Error, "Lockspace {Lockspace}: recovery failed: {Reason}")]
        public static partial void RecoveryFailed(ILogger logger, string lockspace, string reason);

        [LoggerMessage(1302, LogLevel.Error, "Lockspace {Lockspace}: the membership driver ended with an error")]
        public static partial void LoopFailed(ILogger logger, string lockspace, Exception exception);
    }
}

/// <summary>One completed recovery of a lockspace.</summary>
/// <param name="Generation">The membership view's generation.</param>
/// <param name="Time">From the view's arrival to locking enabled again.</param>
/// <param name="CompletedAt">When it completed, as a timestamp of the node's <see cref="TimeProvider"/>.</param>
public sealed record RecoveryRecord(long Generation, TimeSpan Time, long CompletedAt);
