using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Etcdserverpb;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Mvccpb;

namespace Dlm.Membership.Etcd;

public sealed partial class EtcdMembershipProvider
{
    // Keep-alives every TTL/6 on one stream (a new stream after an error). Each answer moves the liveness clock to
    // when its request was sent: it proves the lease was renewed no earlier than that, and a process paused between
    // sending and reading must not count the pause as proven membership. The answers' delay thus comes off the
    // window, so requests go at twice the rate of etcd's own client. Once fenced, no more: a fenced node's lease must
    // run out, so the others see its keys expire and recover instead of waiting for it at every barrier.
    // A stream with a request unanswered for TTL/3 and no answer for as long (or a write hung as long) is given up for
    // a new one: an etcd member that hangs, or lost its leader while its connection stays up, would otherwise let the
    // window run out while other members could renew the lease (the channel balances new streams across the
    // endpoints). A stream that keeps answering is kept however late its answers; the answers still on their way to
    // one given up count when they come. A stream given up before its first answer doubles the next one's wait until
    // that one answers (up to the window less one interval), so an etcd that is only slow is not left stream after
    // stream. Streams also ask etcd to end them when their member loses its leader ("hasleader").
    private async Task KeepAliveAsync()
    {
        var every = TimeSpan.FromTicks(_options.Ttl.Ticks / 6);
        var first = TimeSpan.FromTicks(_options.Ttl.Ticks / 3);
        var longest = TimeSpan.FromTicks(Math.Max(first.Ticks, (_options.Ttl - _options.FenceMargin - every).Ticks));
        var stallAfter = first;
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token, _liveness.Token);
        while (!ended.IsCancellationRequested)
        {
            try
            {
                var (stalled, answered) = await KeepAliveStreamAsync(every, first, stallAfter, ended.Token).ConfigureAwait(false);
                if (stalled)
                {
                    stallAfter = answered ? first : TimeSpan.FromTicks(Math.Min(stallAfter.Ticks * 2, longest.Ticks));
                    continue;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), _time, ended.Token).ConfigureAwait(false); // etcd ended the stream
            }
            catch (Exception e) when (ended.IsCancellationRequested && (IsUnreachable(e) || e is OperationCanceledException))
            {
                return; // stopping, or fenced
            }
#pragma warning disable CA1031 // the loop is the lease's only renewer: anything else is logged and the stream opened again
            catch (Exception e) when (!ended.IsCancellationRequested)
#pragma warning restore CA1031
            {
                // etcd gone, restarting or ending the stream: try again; the liveness clock decides when we are no longer a member.
                EtcdLog.CallFailed(_logger, "keep-alive", e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(200), _time, ended.Token).ConfigureAwait(false);
            }
        }
    }

    // One keep-alive stream until it fails (throws), ends with the loop, or stalls; and whether it was answered at all.
    // Its wait is stallAfter until its first answer, then TTL/3.
    private async Task<(bool Stalled, bool Answered)> KeepAliveStreamAsync(TimeSpan every, TimeSpan first, TimeSpan stallAfter, CancellationToken ended)
    {
        var stream = CancellationTokenSource.CreateLinkedTokenSource(ended);
        var call = _etcd.LeaseClient.LeaseKeepAlive(RequireLeader, cancellationToken: stream.Token);
        Interlocked.Increment(ref _keepAliveStreams);
        var sent = new ConcurrentQueue<long>(); // when each request still unanswered was sent: answers come in order
        var lastAnswer = new StrongBox<long>(); // when this stream last answered (a TimeProvider timestamp); 0 before its first
        var acks = Task.Run(() => ReadKeepAliveAcksAsync(call, sent, lastAnswer, stream.Token), CancellationToken.None);
        var givenUp = false;
        try
        {
            while (!acks.IsCompleted)
            {
                if (sent.TryPeek(out var oldest))
                {
                    var last = Volatile.Read(ref lastAnswer.Value);
                    var wait = last != 0 ? first : stallAfter;
                    if (_time.GetElapsedTime(oldest) >= wait && (last == 0 || _time.GetElapsedTime(last) >= wait))
                    {
                        EtcdLog.KeepAliveStalled(_logger, LocalNodeId, _time.GetElapsedTime(oldest).TotalMilliseconds);
                        givenUp = true;
                        return (true, last != 0);
                    }
                }

                if (!_pauseKeepAlive)
                {
                    sent.Enqueue(_time.GetTimestamp());
                    var write = call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = Lease }, stream.Token);
                    var wait = Volatile.Read(ref lastAnswer.Value) != 0 ? first : stallAfter;
                    try
                    {
                        await write.WaitAsync(wait, _time, ended).ConfigureAwait(false); // a hung stream can hang a write too
                    }
                    catch (TimeoutException)
                    {
                        Observe(write);
                        EtcdLog.KeepAliveStalled(_logger, LocalNodeId, wait.TotalMilliseconds);
                        givenUp = true;
                        return (true, Volatile.Read(ref lastAnswer.Value) != 0);
                    }
                }

                await Task.WhenAny(acks, Task.Delay(every, _time, ended)).ConfigureAwait(false);
            }

            await acks.ConfigureAwait(false); // the stream ended: why
            return (false, Volatile.Read(ref lastAnswer.Value) != 0);
        }
        finally
        {
            var closing = CloseKeepAliveStreamAsync(call, stream, acks, givenUp ? _options.Ttl : TimeSpan.Zero, ended);
            if (givenUp)
            {
                Observe(closing);
            }
            else
            {
                await closing.ConfigureAwait(false);
            }
        }
    }

    // Closes a keep-alive stream, after `linger` (a stream given up: the answers still on their way prove renewals, so
    // its reader goes on taking them until the window has passed, or the loop ends). The reader ends on the cancellation,
    // before the call is disposed.
    private async Task CloseKeepAliveStreamAsync(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> call,
        CancellationTokenSource stream, Task acks, TimeSpan linger, CancellationToken ended)
    {
        if (linger > TimeSpan.Zero)
        {
            await Task.WhenAny(acks, Task.Delay(linger, _time, ended)).ConfigureAwait(false);
        }

        await stream.CancelAsync().ConfigureAwait(false);
        Observe(acks);
        call.Dispose();
        stream.Dispose();
    }

    // A task left behind (a given-up stream's reader or write): its failure is expected and must not go unobserved.
    private static void Observe(Task task) =>
        _ = task.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    private async Task ReadKeepAliveAcksAsync(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> call,
        ConcurrentQueue<long> sent, StrongBox<long> lastAnswer, CancellationToken ct)
    {
        try
        {
            while (await call.ResponseStream.MoveNext(ct).ConfigureAwait(false))
            {
                var known = sent.TryPeek(out var sentAt);
                if (_options.BeforeKeepAliveAnswer is { } seam)
                {
                    await seam(sentAt, ct).ConfigureAwait(false); // an answer held here has not arrived yet
                }

                sent.TryDequeue(out _);
                Volatile.Write(ref lastAnswer.Value, _time.GetTimestamp());

                if (_ignoreAcks)
                {
                    continue;
                }

                if (call.ResponseStream.Current.TTL <= 0)
                {
                    Fence("etcd says the lease expired");
                    return;
                }

                // The clock only moves forward: a given-up stream's reader may run beside the current one.
                long seen;
                while (known && sentAt > (seen = Interlocked.Read(ref _lastAck)) && Interlocked.CompareExchange(ref _lastAck, sentAt, seen) != seen)
                {
                }
            }
        }
        catch (Exception e) when (ct.IsCancellationRequested && (IsUnreachable(e) || e is OperationCanceledException or ObjectDisposedException))
        {
            // the stream ends with the loop, or was given up for a new one
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

    // The members and stop markers at one revision; a view of generation = that revision. Revision 0 (after a
    // compaction) lists the newest state: the change's own revision is lost, so the store's is used, and only
    // if the members differ from the last view's. Unchanged members keep the generation every node agreed on
    // (a quiet lockspace whose watch had to resume after a compaction must not start a change nobody else sees).
    // The others stop for such a change at its own revision, which lies between the least one the list shows it can
    // have (LatestTrace, from `floor`, the first revision the watch missed) and the store's: the barrier accepts those.
    private async Task<(MembershipView View, long Revision, bool Changed)> ListAsync(Space space, long revision, CancellationToken ct, long floor = 0)
    {
        var prefix = Key(space, "");
        var listed = await CallAsync(() => _etcd.KVClient.RangeAsync(new RangeRequest
        {
            Key = prefix, RangeEnd = RangeEnd(prefix), Revision = revision,
        }, deadline: Deadline(), cancellationToken: ct).ResponseAsync).ConfigureAwait(false);
        lock (space.Lock)
        {
            var before = Snapshot(space);
            var tombstones = new Dictionary<int, long>();
            space.Members.Clear();
            space.Created.Clear();
            space.Stopped.Clear();
            foreach (var kv in listed.Kvs)
            {
                Apply(space, kv.Key.ToStringUtf8(), kv.Value.ToStringUtf8(), put: true, kv.CreateRevision, tombstones);
            }

            var changed = revision != 0 || space.Members.Count != before.Count
                || before.Any(b => !space.Members.TryGetValue(b.Member.NodeId, out var m) || m != b.Member || space.Created[m.NodeId] != b.Created);
            if (changed)
            {
                space.Generation = revision == 0 ? listed.Header.Revision : revision;
                space.Floor = revision == 0 ? LatestTrace(space, listed.Kvs, floor) : 0;
            }

            var view = ViewLocked(space, before, tombstones);
            space.Signal();
            return (view, listed.Header.Revision, changed);
        }
    }

    // The revision the others' generation for changes missed since `floor` is at least: the latest join (a member
    // key's creation) or clean leave (a tombstone's write) among them, or `floor`. A lease expiry leaves no trace, so
    // when the last missed change was one, the bound is that of an earlier change (docs/membership.md).
    private static long LatestTrace(Space space, IEnumerable<KeyValue> kvs, long floor)
    {
        var latest = floor;
        foreach (var kv in kvs)
        {
            var key = kv.Key.ToStringUtf8();
            var kind = key.AsSpan(space.Prefix.Length);
            var trace = kind.StartsWith("members/") ? kv.CreateRevision : kind.StartsWith("leaving/") ? kv.ModRevision : 0;
            latest = Math.Max(latest, trace);
        }

        return latest;
    }

    // The view stream: a prefix watch from the revision after the last one seen; compaction → list again. A stream
    // that says nothing for a whole TTL (found within TTL/2 more), although asked for a progress report every TTL/2,
    // or whose write hangs, is cut and opened again from the same revision: an etcd member that hangs, or lost its
    // leader while its connection stays up, would otherwise hide every later membership change from this node.
    private async Task WatchAsync(Space space, long next)
    {
        var prefix = Key(space, "");
        while (!space.Stop.IsCancellationRequested && !_liveness.IsCancellationRequested)
        {
            try
            {
                await space.Resume.WaitAsync(space.Stop.Token).ConfigureAwait(false);
                using var stream = CancellationTokenSource.CreateLinkedTokenSource(space.Stop.Token);
                space.Cut = stream;
                using var call = _etcd.WatchClient.Watch(RequireLeader, cancellationToken: stream.Token);
                await call.RequestStream.WriteAsync(new WatchRequest
                {
                    CreateRequest = new WatchCreateRequest { Key = prefix, RangeEnd = RangeEnd(prefix), StartRevision = next },
                }, stream.Token).WaitAsync(_options.Ttl, _time, stream.Token).ConfigureAwait(false); // a hung member can hang a write
                var heard = new StrongBox<long>(_time.GetTimestamp());
                var progress = AskForProgressAsync(call, heard, stream);
                try
                {
                    while (await call.ResponseStream.MoveNext(stream.Token).ConfigureAwait(false))
                    {
                        Volatile.Write(ref heard.Value, _time.GetTimestamp());
                        var response = call.ResponseStream.Current;
                        if (_options.BeforeWatchResponse is { } seam)
                        {
                            await seam(response, stream.Token).ConfigureAwait(false);
                        }

                        if (response.CompactRevision > 0 || response.Canceled)
                        {
                            EtcdLog.Relisting(_logger, space.Name, response.CompactRevision);
                            var (view, revision, changed) = await ListAsync(space, 0, space.Stop.Token, floor: next).ConfigureAwait(false);
                            if (changed)
                            {
                                Publish(space, view);
                            }

                            Relisted?.Invoke(space.Name, changed);
                            next = revision + 1;
                            break;
                        }

                        if (response.Events.Count > 0)
                        {
                            next = OnEvents(space, response) + 1;
                        }
                    }
                }
                finally
                {
                    await stream.CancelAsync().ConfigureAwait(false);
                    await progress.ConfigureAwait(false);
                }
            }
            catch (Exception e) when (!space.Stop.IsCancellationRequested && (IsUnreachable(e) || e is MembershipException or OperationCanceledException or TimeoutException))
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

    // Beside a watch stream until it ends: every TTL/2 a progress request (etcd answers it with an empty response);
    // once the stream has said nothing for a whole TTL, it is cut.
    private async Task AskForProgressAsync(AsyncDuplexStreamingCall<WatchRequest, WatchResponse> call, StrongBox<long> heard, CancellationTokenSource stream)
    {
        try
        {
            while (true)
            {
                await Task.Delay(_options.Ttl / 2, _time, stream.Token).ConfigureAwait(false);
                var quiet = _time.GetElapsedTime(Volatile.Read(ref heard.Value));
                if (quiet >= _options.Ttl)
                {
                    EtcdLog.WatchStalled(_logger, LocalNodeId, quiet.TotalMilliseconds);
                    await stream.CancelAsync().ConfigureAwait(false);
                    return;
                }

                var write = call.RequestStream.WriteAsync(new WatchRequest { ProgressRequest = new WatchProgressRequest() }, stream.Token);
                try
                {
                    await write.WaitAsync(_options.Ttl / 2, _time, stream.Token).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    Observe(write);
                    EtcdLog.WatchStalled(_logger, LocalNodeId, quiet.TotalMilliseconds + (_options.Ttl / 2).TotalMilliseconds);
                    await stream.CancelAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (Exception e) when (IsUnreachable(e) || e is OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            // the stream ended (or failed: its reader sees why)
        }
    }

    // Folds one watch response in; a membership change becomes a view whose generation is its revision.
    private long OnEvents(Space space, WatchResponse response)
    {
        var last = 0L;
        MembershipView? view = null;
        lock (space.Lock)
        {
            var before = Snapshot(space);
            var tombstones = new Dictionary<int, long>();
            var membersChanged = false;
            var memberRevision = 0L;
            foreach (var e in response.Events)
            {
                var key = e.Kv.Key.ToStringUtf8();
                last = Math.Max(last, e.Kv.ModRevision);
                var put = e.Type == Event.Types.EventType.Put;
                if (Apply(space, key, e.Kv.Value.ToStringUtf8(), put, e.Kv.CreateRevision, tombstones))
                {
                    // The generation is the revision of the membership change itself, the same on every node
                    // however the watch batches events (stop markers share the prefix).
                    membersChanged = true;
                    memberRevision = Math.Max(memberRevision, e.Kv.ModRevision);
                }
            }

            if (membersChanged)
            {
                space.Generation = memberRevision;
                space.Floor = 0;
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

    // True when a member key changed. A tombstone (leaving/<id> = the leaver's lease) is collected. A value
    // that does not parse (not written by this provider) is logged and skipped, never thrown: the watch goes on.
    private bool Apply(Space space, string key, string value, bool put, long created, Dictionary<int, long> tombstones)
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
                if (parts.Length < 2 || !System.Net.IPAddress.TryParse(parts[0], out var address)
                    || !long.TryParse(parts[1], CultureInfo.InvariantCulture, out var incarnation))
                {
                    EtcdLog.Malformed(_logger, key, value);
                    return false;
                }

                space.Members[id] = new Member(id, address, incarnation,
                    parts.Length > 2 && int.TryParse(parts[2], CultureInfo.InvariantCulture, out var weight) ? weight : 1);
                space.Created[id] = created;
                return true;
            case "members":
                space.Created.Remove(id);
                return space.Members.Remove(id);
            case "stopped" when put:
                if (long.TryParse(value, CultureInfo.InvariantCulture, out var generation))
                {
                    space.Stopped[id] = generation;
                }
                else
                {
                    EtcdLog.Malformed(_logger, key, value);
                }

                return false;
            case "stopped":
                space.Stopped.Remove(id);
                return false;
            case "leaving" when put && long.TryParse(value, CultureInfo.InvariantCulture, out var lease):
                tombstones[id] = lease;
                return false;
            default:
                return false;
        }
    }

    private static List<(Member Member, long Created)> Snapshot(Space space) =>
        [.. space.Members.Values.Select(m => (m, space.Created.GetValueOrDefault(m.NodeId)))];

    private static MembershipView ViewLocked(Space space, List<(Member Member, long Created)> before, Dictionary<int, long> tombstones)
    {
        var (joined, left) = Diff(before, space.Members.Values.Select(m => (m, space.Created.GetValueOrDefault(m.NodeId))).ToList(), tombstones);
        return new MembershipView(space.Name, space.Generation, [.. space.Members.Values.OrderBy(m => m.NodeId)], joined, left);
    }

    // Who joined and who left between two lists of members with their keys' creation revisions. A member key
    // created again is a leave and a join even with the same lease: the same process left and joined again
    // (its locks from before are gone), perhaps within one watch response or a compaction gap. A member gone
    // with a tombstone of its own lease left cleanly; any other gone member failed.
    internal static (List<Member> Joined, List<LeftMember> Left) Diff(IReadOnlyList<(Member Member, long Created)> before,
        IReadOnlyList<(Member Member, long Created)> now, IReadOnlyDictionary<int, long> tombstones)
    {
        static bool Same((Member Member, long Created) a, (Member Member, long Created) b) =>
            a.Member.NodeId == b.Member.NodeId && a.Member.Incarnation == b.Member.Incarnation && a.Created == b.Created;

        var joined = now.Where(n => !before.Any(b => Same(b, n))).Select(n => n.Member).OrderBy(m => m.NodeId).ToList();
        var left = before.Where(b => !now.Any(n => Same(b, n)))
            .Select(b => new LeftMember(b.Member, tombstones.GetValueOrDefault(b.Member.NodeId) == b.Member.Incarnation ? LeaveReason.Leave : LeaveReason.ProcessDown))
            .ToList();
        return (joined, left);
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
        public Dictionary<int, long> Created { get; } = []; // each member key's creation revision
        public Dictionary<int, long> Stopped { get; } = [];
        public long Generation { get; set; }
        public long Floor { get; set; } // when Generation came from a list after a compaction: the least revision of its change, else 0
        public Channel<MembershipView> Views { get; } = Channel.CreateUnbounded<MembershipView>();
        public CancellationTokenSource Stop { get; } = new();
        public Task Watcher { get; set; } = Task.CompletedTask;
        public CancellationTokenSource? Cut { get; set; } // cancels the current watch stream (tests)
        public Task Resume { get; set; } = Task.CompletedTask; // a new watch stream waits for it (tests)
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

        [LoggerMessage(1404, LogLevel.Warning, "etcd key {Key} has a value this provider did not write ({Value}); ignored")]
        public static partial void Malformed(ILogger logger, string key, string value);

        [LoggerMessage(1405, LogLevel.Warning, "Node {NodeId}: no keep-alive answer for {Milliseconds:F0} ms; opening a new keep-alive stream")]
        public static partial void KeepAliveStalled(ILogger logger, int nodeId, double milliseconds);

        [LoggerMessage(1406, LogLevel.Warning, "Node {NodeId}: the watch said nothing for {Milliseconds:F0} ms; opening a new watch stream")]
        public static partial void WatchStalled(ILogger logger, int nodeId, double milliseconds);

        [LoggerMessage(1402, LogLevel.Information, "Lockspace {Lockspace}: the watch lost history (compacted at {Revision}); listing again")]
        public static partial void Relisting(ILogger logger, string lockspace, long revision);
    }
}
