using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using dotnet_etcd;
using dotnet_etcd.interfaces;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;

namespace Dlm.Membership.Etcd;

/// <summary>
/// Membership on etcd (docs/membership.md): one lease per node process (its incarnation), the node key
/// created only if absent, a member key per lockspace under the lease, a prefix watch as the view stream
/// with the etcd revision of the change as generation, stop markers for the barrier, a tombstone that tells
/// a clean leave from a lease expiry, a re-list after compaction, self-fencing when keep-alives stop being
/// acknowledged, eviction by revoking a lease. Uses the dotnet-etcd client's gRPC connection.
/// </summary>
public sealed partial class EtcdMembershipProvider : IMembershipProvider
{
    // Streams ask etcd to end them when their member has no leader (it then cannot renew a lease or report changes).
    private static readonly Metadata RequireLeader = new() { { "hasleader", "true" } };

    private readonly EtcdMembershipOptions _options;
    private readonly EtcdClient _client;
    private readonly IConnection _etcd;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _liveness = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, Space> _spaces = new();
    private readonly TimeProvider _time;
    private readonly long _liveWindow; // TTL minus the fencing margin, in TimeProvider ticks
    private Task _keepAlive = Task.CompletedTask;
    private ITimer? _fenceCheck;
    private long _lastAck;
    private int _keepAliveStreams;
    private volatile bool _pauseKeepAlive;
    private volatile bool _ignoreAcks;

    private EtcdMembershipProvider(EtcdMembershipOptions options, long lease)
    {
        _options = options;
        _time = options.TimeProvider;
        _liveWindow = (long)((options.Ttl - options.FenceMargin).TotalSeconds * _time.TimestampFrequency);
        _logger = options.LoggerFactory.CreateLogger("Dlm.Membership.Etcd");
        _client = new EtcdClient(string.Join(",", options.Endpoints));
        _etcd = _client.GetConnection();
        Lease = lease;
    }

    /// <inheritdoc/>
    public int LocalNodeId => _options.NodeId;

    /// <inheritdoc/>
    public CancellationToken Liveness => _liveness.Token;

    /// <inheritdoc/>
    public bool IsLive => !_liveness.IsCancellationRequested && _time.GetTimestamp() <= LiveUntil;

    /// <summary>When the last keep-alive was acknowledged (a <see cref="TimeProvider"/> timestamp).</summary>
    internal long LastAcknowledged => Interlocked.Read(ref _lastAck);

    /// <summary>The <see cref="TimeProvider"/> timestamp at which <see cref="IsLive"/> ends unless another keep-alive is acknowledged.</summary>
    internal long LiveUntil => LastAcknowledged + _liveWindow;

    /// <summary>This process's lease: its incarnation.</summary>
    public long Lease { get; private set; }

    /// <summary>
    /// Connects, takes a lease and creates this node's key if no live process holds it; throws
    /// <see cref="MembershipException"/> with the reason when etcd is unreachable or the id is taken.
    /// </summary>
    public static async Task<EtcdMembershipProvider> StartAsync(EtcdMembershipOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var provider = new EtcdMembershipProvider(options, 0);
        try
        {
            var grant = await provider._etcd.LeaseClient.LeaseGrantAsync(new LeaseGrantRequest { TTL = (long)Math.Ceiling(options.Ttl.TotalSeconds) },
                deadline: provider.Deadline(), cancellationToken: cancellationToken).ResponseAsync.ConfigureAwait(false);
            provider.Lease = grant.ID;
            var node = provider.Key($"nodes/{options.NodeId}");
            var created = await provider._etcd.KVClient.TxnAsync(new TxnRequest
            {
                Compare = { new Compare { Key = node, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 } },
                Success = { new RequestOp { RequestPut = new PutRequest { Key = node, Value = provider.MemberValue(), Lease = grant.ID } } },
            }, deadline: provider.Deadline(), cancellationToken: cancellationToken).ResponseAsync.ConfigureAwait(false);
            if (!created.Succeeded)
            {
                await provider.RevokeAsync(grant.ID).ConfigureAwait(false);
                throw new MembershipException($"Node id {options.NodeId} is held by a live process in etcd ({node.ToStringUtf8()}); "
                    + "stop it, or wait for its lease to expire.");
            }
        }
        catch (RpcException e)
        {
            provider._client.Dispose();
            throw new MembershipException($"etcd at {string.Join(",", options.Endpoints)} is not usable: {e.Status.Detail} ({e.StatusCode}).", e);
        }

        // The liveness clock starts now, not when the lease was asked for: the first call's time (the gRPC channel, the
        // JIT) can take most of a short TTL on a loaded machine, and a lease that expired meanwhile is refused by the
        // next write (JoinAsync) and by the first keep-alive's answer. Later answers move it to their requests' send times.
        provider._lastAck = provider._time.GetTimestamp();
        provider._keepAlive = Task.Run(provider.KeepAliveAsync, CancellationToken.None);
        var check = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(50).Ticks, options.Ttl.Ticks / 20));
        provider._fenceCheck = provider._time.CreateTimer(static s => ((EtcdMembershipProvider)s!).CheckLiveness(), provider, check, check);
        return provider;
    }

    /// <inheritdoc/>
    public async Task<MembershipView> JoinAsync(string lockspace, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_liveness.IsCancellationRequested, this);
        var space = new Space(lockspace, $"{_options.Prefix}/ls/{lockspace}/");
        if (!_spaces.TryAdd(lockspace, space))
        {
            throw new InvalidOperationException($"Node {LocalNodeId} already joined lockspace '{lockspace}'.");
        }

        var joined = await CallAsync(() => _etcd.KVClient.TxnAsync(new TxnRequest
        {
            Success =
            {
                new RequestOp { RequestPut = new PutRequest { Key = Key(space, $"members/{LocalNodeId}"), Value = MemberValue(), Lease = Lease } },
                new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = Key(space, $"leaving/{LocalNodeId}") } },
            },
        }, deadline: Deadline(), cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        var revision = joined.Header.Revision;
        var (view, _, _) = await ListAsync(space, revision, cancellationToken).ConfigureAwait(false);
        space.Watcher = Task.Run(() => WatchAsync(space, revision + 1), CancellationToken.None);
        return view;
    }

    /// <inheritdoc/>
    /// <remarks>
    /// The delete is not cancelled by <paramref name="cancellationToken"/>: a leave half done would leave our member
    /// key behind, and the others waiting for us at every barrier. It is retried while etcd is unreachable, at most
    /// until liveness ends (then the lease runs out, which removes the key); a node whose delete still fails fences
    /// itself, for the same reason. The watcher stops either way.
    /// </remarks>
    public async Task LeaveAsync(string lockspace, CancellationToken cancellationToken)
    {
        if (!_spaces.TryRemove(lockspace, out var space))
        {
            return;
        }

        try
        {
            // The member key goes in the same transaction as the tombstone: the others see a leave, not a failure.
            await CallAsync(() => _etcd.KVClient.TxnAsync(new TxnRequest
            {
                Success =
                {
                    new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = Key(space, $"members/{LocalNodeId}") } },
                    new RequestOp { RequestPut = new PutRequest { Key = Key(space, $"leaving/{LocalNodeId}"), Value = ByteString.CopyFromUtf8(Lease.ToString(CultureInfo.InvariantCulture)) } },
                    new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = Key(space, $"stopped/{LocalNodeId}") } },
                },
            }, deadline: Deadline(), cancellationToken: CancellationToken.None).ResponseAsync).ConfigureAwait(false);
        }
        catch (MembershipException e)
        {
            Fence($"leaving lockspace '{lockspace}' failed ({e.Message}); its member key stays until the lease runs out");
            throw;
        }
        finally
        {
            await space.StopAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<MembershipView> ViewsAsync(string lockspace, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!_spaces.TryGetValue(lockspace, out var space))
        {
            yield break;
        }

        await foreach (var view in ViewStream.ReadAsync(space.Views.Reader, cancellationToken).ConfigureAwait(false))
        {
            yield return view;
        }
    }

    /// <inheritdoc/>
    public async Task<bool> AwaitAllStoppedAsync(string lockspace, long generation, CancellationToken cancellationToken)
    {
        if (!_spaces.TryGetValue(lockspace, out var space))
        {
            return false;
        }

        await CallAsync(() => _etcd.KVClient.PutAsync(new PutRequest
        {
            Key = Key(space, $"stopped/{LocalNodeId}"), Value = ByteString.CopyFromUtf8(generation.ToString(CultureInfo.InvariantCulture)), Lease = Lease,
        }, deadline: Deadline(), cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        while (true)
        {
            Task changed;
            lock (space.Lock)
            {
                if (space.Generation > generation)
                {
                    return false;
                }

                // A generation from a list after a compaction is later than the change's own revision, which the
                // other nodes stop for: their markers count from the least revision that change can have (Floor).
                var least = generation == space.Generation && space.Floor > 0 ? space.Floor : generation;
                if (space.Members.Keys.All(id => space.Stopped.GetValueOrDefault(id) >= least))
                {
                    return true;
                }

                EtcdLog.Waiting(_logger, LocalNodeId, space.Name, generation, space.Generation,
                    string.Join(",", space.Members.Keys.Order().Select(id => $"{id}:{space.Stopped.GetValueOrDefault(id)}")));
                changed = space.Changed.Task;
            }

            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async Task EvictAsync(int nodeId, CancellationToken cancellationToken)
    {
        var node = await CallAsync(() => _etcd.KVClient.RangeAsync(new RangeRequest { Key = Key($"nodes/{nodeId}") },
            deadline: Deadline(), cancellationToken: cancellationToken).ResponseAsync).ConfigureAwait(false);
        if (node.Kvs.Count == 1)
        {
            await RevokeAsync(node.Kvs[0].Lease).ConfigureAwait(false); // every key of that process goes: a failure for the others
        }
    }

    /// <summary>Test hook: told (lockspace, members changed) after a watch listed a lockspace again (compacted history).</summary>
    internal event Action<string, bool>? Relisted;

    /// <summary>
    /// Test hook: the lockspace's watch stream is cut, and the next one starts when <paramref name="resume"/>
    /// completes, from the revision after the last one seen (history compacted meanwhile makes it list again).
    /// </summary>
    internal void CutWatch(string lockspace, Task resume)
    {
        var space = _spaces[lockspace];
        space.Resume = resume;
        try
        {
            space.Cut?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // that stream had ended already; the next one waits for resume
        }
    }

    /// <summary>Keep-alive streams opened so far (tests).</summary>
    internal int KeepAliveStreams => Volatile.Read(ref _keepAliveStreams);

    /// <summary>The keep-alive loop (tests: it ends when the node fences itself).</summary>
    internal Task KeepAliveLoop => _keepAlive;

    /// <summary>Test hook: keep renewing the lease but take no notice of the answers, as when they come too late.</summary>
    internal void IgnoreKeepAliveAcks(bool ignored) => _ignoreAcks = ignored;

    /// <summary>Test hook: stop (or resume) renewing the lease, as a paused or cut-off process would.</summary>
    internal void PauseKeepAlive(bool paused) => _pauseKeepAlive = paused;

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_fenceCheck is not null)
        {
            await _fenceCheck.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var space in _spaces.Values)
        {
            await space.StopAsync().ConfigureAwait(false);
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _keepAlive.ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnreachable(e) || e is OperationCanceledException)
        {
            // the loop ends with the connection
        }

        if (!_liveness.IsCancellationRequested)
        {
            await RevokeAsync(Lease).ConfigureAwait(false);
        }

        _client.Dispose();
        _liveness.Dispose();
        _stop.Dispose();
    }

    private DateTime Deadline() => _time.GetUtcNow().UtcDateTime + _options.CallTimeout;

    private ByteString Key(string suffix) => ByteString.CopyFromUtf8($"{_options.Prefix}/{suffix}");

    private static ByteString Key(Space space, string suffix) => ByteString.CopyFromUtf8(space.Prefix + suffix);

    private ByteString MemberValue() => ByteString.CopyFromUtf8(string.Create(CultureInfo.InvariantCulture, $"{_options.Address} {Lease} {_options.Weight}"));

    private async Task RevokeAsync(long lease)
    {
        try
        {
            await _etcd.LeaseClient.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease }, deadline: Deadline()).ResponseAsync.ConfigureAwait(false);
        }
        catch (Exception e) when (IsUnreachable(e))
        {
            EtcdLog.CallFailed(_logger, "lease revoke", e.Message);
        }
    }

    // A failed call is retried until it succeeds or liveness ends (then it throws): etcd may be electing a leader.
    private async Task<T> CallAsync<T>(Func<Task<T>> call)
    {
        var delay = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            try
            {
                return await call().ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded && !_liveness.IsCancellationRequested)
            {
                EtcdLog.CallFailed(_logger, "call", e.Status.Detail);
                await Task.Delay(delay, _time, _stop.Token).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
            }
            catch (RpcException e)
            {
                throw new MembershipException($"etcd: {e.Status.Detail} ({e.StatusCode})", e);
            }
        }
    }

    // etcd gone, restarting or unreachable: what a call to it fails with, besides cancellation.
    private static bool IsUnreachable(Exception e) => e is RpcException or IOException or HttpRequestException;
}
