using System.Globalization;
using System.Threading.Channels;
using Etcdserverpb;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Mvccpb;

namespace Dlm.Membership.Etcd;

public sealed partial class EtcdMembershipProvider
{
    // Keep-alives every TTL/3 on one stream; each acknowledgement moves the liveness clock (a new stream after an error).
    private async Task KeepAliveAsync()
    {
        var every = TimeSpan.FromTicks(_options.Ttl.Ticks / 3);
        while (!_stop.IsCancellationRequested && !_liveness.IsCancellationRequested)
        {
            try
            {
                using var call = _etcd.LeaseClient.LeaseKeepAlive(cancellationToken: _stop.Token);
                var acks = Task.Run(async () =>
                {
                    while (await call.ResponseStream.MoveNext(_stop.Token).ConfigureAwait(false))
                    {
                        if (call.ResponseStream.Current.TTL <= 0)
                        {
                            Fence("etcd says the lease expired");
                            return;
                        }

                        Interlocked.Exchange(ref _lastAck, _time.GetTimestamp());
                    }
                });
                while (!acks.IsCompleted)
                {
                    if (!_pauseKeepAlive)
                    {
                        await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = Lease }).ConfigureAwait(false);
                    }

                    await Task.WhenAny(acks, Task.Delay(every, _time, _stop.Token)).ConfigureAwait(false);
                }

                await acks.ConfigureAwait(false);
            }
            catch (Exception e) when (!_stop.IsCancellationRequested && IsUnreachable(e))
            {
                // etcd gone or restarting: try again; the liveness clock decides when we are no longer a member.
                EtcdLog.CallFailed(_logger, "keep-alive", e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(200), _time, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (_stop.IsCancellationRequested && (IsUnreachable(e) || e is OperationCanceledException))
            {
                return;
            }
        }
    }

    // Self-fencing: no acknowledged keep-alive for TTL minus the margin → we can no longer prove we are a member.
    private void CheckLiveness()
    {
        if (_time.GetTimestamp() > LiveUntil)
        {
            var quiet = _time.GetElapsedTime(LastAcknowledged);
            Fence($"no keep-alive acknowledged for {quiet.TotalMilliseconds:F0} ms (TTL {_options.Ttl.TotalSeconds:F0} s)");
        }
    }

    private void Fence(string reason)
    {
        if (_liveness.IsCancellationRequested)
        {
            return;
        }

        EtcdLog.Fenced(_logger, LocalNodeId, reason);
        _liveness.Cancel();
        foreach (var space in _spaces.Values)
        {
            space.Views.Writer.TryComplete();
        }
    }

    // The members and stop markers at one revision; a view of generation = that revision.
    private async Task<MembershipView> ListAsync(Space space, long revision, CancellationToken ct)
    {
        var prefix = Key(space, "");
        var listed = await CallAsync(() => _etcd.KVClient.RangeAsync(new RangeRequest
        {
            Key = prefix, RangeEnd = RangeEnd(prefix), Revision = revision,
        }, deadline: Deadline(), cancellationToken: ct).ResponseAsync).ConfigureAwait(false);
        lock (space.Lock)
        {
            var before = space.Members.Values.ToList();
            space.Members.Clear();
            space.Stopped.Clear();
            foreach (var kv in listed.Kvs)
            {
                Apply(space, kv.Key.ToStringUtf8(), kv.Value.ToStringUtf8(), put: true);
            }

            // After a compaction (revision 0: the newest) the change's own revision is lost; the store's is used.
            space.Generation = revision == 0 ? listed.Header.Revision : revision;
            var view = ViewLocked(space, before, tombstones: []);
            space.Signal();
            return view;
        }
    }

    // The view stream: a prefix watch from the revision after the last one seen; compaction → list again.
    private async Task WatchAsync(Space space, long next)
    {
        var prefix = Key(space, "");
        while (!space.Stop.IsCancellationRequested && !_liveness.IsCancellationRequested)
        {
            try
            {
                using var call = _etcd.WatchClient.Watch(cancellationToken: space.Stop.Token);
                await call.RequestStream.WriteAsync(new WatchRequest
                {
                    CreateRequest = new WatchCreateRequest { Key = prefix, RangeEnd = RangeEnd(prefix), StartRevision = next },
                }).ConfigureAwait(false);
                while (await call.ResponseStream.MoveNext(space.Stop.Token).ConfigureAwait(false))
                {
                    var response = call.ResponseStream.Current;
                    if (response.CompactRevision > 0 || response.Canceled)
                    {
                        EtcdLog.Relisting(_logger, space.Name, response.CompactRevision);
                        var view = await ListAsync(space, 0, space.Stop.Token).ConfigureAwait(false);
                        Publish(space, view);
                        next = view.Generation + 1;
                        break;
                    }

                    if (response.Events.Count > 0)
                    {
                        next = OnEvents(space, response) + 1;
                    }
                }
            }
            catch (Exception e) when (!space.Stop.IsCancellationRequested && (IsUnreachable(e) || e is MembershipException))
            {
                EtcdLog.CallFailed(_logger, "watch", e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(200), _time, space.Stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (space.Stop.IsCancellationRequested && (IsUnreachable(e) || e is OperationCanceledException or MembershipException))
            {
                return;
            }
        }
    }

    // Folds one watch response in; a membership change becomes a view whose generation is its revision.
    private long OnEvents(Space space, WatchResponse response)
    {
        var last = 0L;
        MembershipView? view = null;
        lock (space.Lock)
        {
            var before = space.Members.Values.ToList();
            var tombstones = new HashSet<int>();
            var membersChanged = false;
            var memberRevision = 0L;
            foreach (var e in response.Events)
            {
                var key = e.Kv.Key.ToStringUtf8();
                last = Math.Max(last, e.Kv.ModRevision);
                var put = e.Type == Event.Types.EventType.Put;
                if (Apply(space, key, e.Kv.Value.ToStringUtf8(), put))
                {
                    // The generation is the revision of the membership change itself, the same on every node
                    // however the watch batches events (stop markers share the prefix).
                    membersChanged = true;
                    memberRevision = Math.Max(memberRevision, e.Kv.ModRevision);
                }

                if (put && key.StartsWith(space.Prefix + "leaving/", StringComparison.Ordinal) && int.TryParse(key.AsSpan(key.LastIndexOf('/') + 1), CultureInfo.InvariantCulture, out var id))
                {
                    tombstones.Add(id);
                }
            }

            if (membersChanged)
            {
                space.Generation = memberRevision;
                view = ViewLocked(space, before, tombstones);
            }

            space.Signal();
        }

        if (view is not null)
        {
            Publish(space, view);
        }

        return last;
    }

    // True when a member key changed.
    private static bool Apply(Space space, string key, string value, bool put)
    {
        var slash = key.LastIndexOf('/');
        if (!int.TryParse(key.AsSpan(slash + 1), CultureInfo.InvariantCulture, out var id))
        {
            return false;
        }

        var kind = key[space.Prefix.Length..slash];
        switch (kind)
        {
            case "members" when put:
                var parts = value.Split(' ');
                space.Members[id] = new Member(id, System.Net.IPAddress.Parse(parts[0]), long.Parse(parts[1], CultureInfo.InvariantCulture),
                    parts.Length > 2 ? int.Parse(parts[2], CultureInfo.InvariantCulture) : 1);
                return true;
            case "members":
                return space.Members.Remove(id);
            case "stopped" when put:
                space.Stopped[id] = long.Parse(value, CultureInfo.InvariantCulture);
                return false;
            case "stopped":
                space.Stopped.Remove(id);
                return false;
            default:
                return false;
        }
    }

    private static MembershipView ViewLocked(Space space, List<Member> before, HashSet<int> tombstones)
    {
        var now = space.Members;
        var joined = now.Values.Where(m => !before.Any(b => b.NodeId == m.NodeId && b.Incarnation == m.Incarnation)).OrderBy(m => m.NodeId).ToList();
        var left = before.Where(b => !now.TryGetValue(b.NodeId, out var m) || m.Incarnation != b.Incarnation)
            .Select(b => new LeftMember(b, tombstones.Contains(b.NodeId) ? LeaveReason.Leave : LeaveReason.ProcessDown)).ToList();
        return new MembershipView(space.Name, space.Generation, [.. now.Values.OrderBy(m => m.NodeId)], joined, left);
    }

    private void Publish(Space space, MembershipView view)
    {
        if (!_spaces.TryGetValue(space.Name, out var current) || current != space)
        {
            return; // our own leave
        }

        if (!view.Members.Any(m => m.NodeId == LocalNodeId))
        {
            Fence($"this node is no longer a member of '{space.Name}' in etcd");
            return;
        }

        space.Views.Writer.TryWrite(view);
    }

    private static Google.Protobuf.ByteString RangeEnd(Google.Protobuf.ByteString prefix)
    {
        var end = prefix.ToByteArray();
        end[^1]++;
        return Google.Protobuf.ByteString.CopyFrom(end);
    }

    private sealed class Space(string name, string prefix)
    {
        public string Name { get; } = name;
        public string Prefix { get; } = prefix;
        public Lock Lock { get; } = new();
        public Dictionary<int, Member> Members { get; } = [];
        public Dictionary<int, long> Stopped { get; } = [];
        public long Generation { get; set; }
        public Channel<MembershipView> Views { get; } = Channel.CreateUnbounded<MembershipView>();
        public CancellationTokenSource Stop { get; } = new();
        public Task Watcher { get; set; } = Task.CompletedTask;
        public TaskCompletionSource Changed { get; private set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        // Under Lock: wake the barrier waiters.
        public void Signal()
        {
            Changed.TrySetResult();
            Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public async Task StopAsync()
        {
            await Stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Watcher.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            Views.Writer.TryComplete();
        }
    }

    private static partial class EtcdLog
    {
        [LoggerMessage(1400, LogLevel.Warning, "etcd {Call} failed: {Detail}; retrying")]
        public static partial void CallFailed(ILogger logger, string call, string detail);

        [LoggerMessage(1401, LogLevel.Error, "Node {NodeId} fences itself: {Reason}")]
        public static partial void Fenced(ILogger logger, int nodeId, string reason);

        [LoggerMessage(1403, LogLevel.Debug, "Node {NodeId} lockspace {Lockspace}: stop barrier of generation {Generation} (now {Current}) waits; stopped: {Stopped}")]
        public static partial void Waiting(ILogger logger, int nodeId, string lockspace, long generation, long current, string stopped);

        [LoggerMessage(1402, LogLevel.Information, "Lockspace {Lockspace}: the watch lost history (compacted at {Revision}); listing again")]
        public static partial void Relisting(ILogger logger, string lockspace, long revision);
    }
}
