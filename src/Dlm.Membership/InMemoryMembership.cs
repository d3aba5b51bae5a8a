using System.Net;
using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Dlm.Membership;

/// <summary>
/// A scriptable membership service in one process, for tests and in-process clusters: nodes join and
/// leave lockspaces, fail, are partitioned away, come back as new incarnations; changes made while
/// views are held are published as one coalesced view. Every node sees the same views in the same order.
/// </summary>
public sealed class InMemoryMembership
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Space> _spaces = [];
    private readonly Dictionary<int, Provider> _providers = [];
    private long _incarnations;
    private int _holds;

    /// <summary>A provider for node <paramref name="nodeId"/>: a new incarnation (an older one of the same node fails first).</summary>
    public IMembershipProvider Connect(int nodeId, IPAddress? address = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(nodeId, 1);
        lock (_lock)
        {
            if (_providers.ContainsKey(nodeId))
            {
                FailLocked(nodeId, LeaveReason.ProcessDown);
            }

            var provider = new Provider(this, nodeId, address ?? IPAddress.Loopback, ++_incarnations);
            _providers[nodeId] = provider;
            return provider;
        }
    }

    /// <summary>The node's process dies: it leaves every lockspace with <paramref name="reason"/> and its liveness ends.</summary>
    public void Fail(int nodeId, LeaveReason reason = LeaveReason.ProcessDown)
    {
        lock (_lock)
        {
            FailLocked(nodeId, reason);
        }
    }

    /// <summary>The nodes are cut off from the rest: the majority side removes them (node down), and they fence themselves.</summary>
    public void Partition(params int[] isolated)
    {
        ArgumentNullException.ThrowIfNull(isolated);
        using (HoldViews())
        {
            foreach (var id in isolated)
            {
                Fail(id, LeaveReason.NodeDown);
            }
        }
    }

    /// <summary>Changes made until the returned handle is disposed reach the members as one view.</summary>
    public IDisposable HoldViews()
    {
        lock (_lock)
        {
            _holds++;
        }

        return new Release(this);
    }

    /// <summary>The current generation of <paramref name="lockspace"/> (0 if nobody joined).</summary>
    public long GenerationOf(string lockspace)
    {
        lock (_lock)
        {
            return _spaces.TryGetValue(lockspace, out var space) ? space.Generation : 0;
        }
    }

    private void FailLocked(int nodeId, LeaveReason reason)
    {
        if (!_providers.Remove(nodeId, out var provider))
        {
            return;
        }

        foreach (var space in _spaces.Values)
        {
            if (space.Members.Remove(nodeId, out var member))
            {
                space.Left.Add(new LeftMember(member, reason));
                space.Channels.Remove(nodeId, out var channel);
                channel?.Writer.TryComplete();
                PublishLocked(space);
            }
        }

        provider.Fence();
    }

    private void PublishLocked(Space space)
    {
        if (_holds > 0)
        {
            space.Dirty = true;
            return;
        }

        space.Dirty = false;
        space.Generation++;
        var view = new MembershipView(space.Name, space.Generation, [.. space.Members.Values.OrderBy(m => m.NodeId)],
            [.. space.Joined], [.. space.Left]);
        space.Joined.Clear();
        space.Left.Clear();
        foreach (var channel in space.Channels.Values)
        {
            channel.Writer.TryWrite(view);
        }

        space.Changed.TrySetResult();
        space.Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Release(InMemoryMembership owner) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            lock (owner._lock)
            {
                if (--owner._holds == 0)
                {
                    foreach (var space in owner._spaces.Values.Where(s => s.Dirty))
                    {
                        owner.PublishLocked(space);
                    }
                }
            }
        }
    }

    private sealed class Space(string name)
    {
        public string Name { get; } = name;
        public long Generation { get; set; }
        public bool Dirty { get; set; }
        public Dictionary<int, Member> Members { get; } = [];
        public List<Member> Joined { get; } = [];
        public List<LeftMember> Left { get; } = [];
        public Dictionary<int, long> Stopped { get; } = [];
        public Dictionary<int, Channel<MembershipView>> Channels { get; } = [];
        public TaskCompletionSource Changed { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Provider(InMemoryMembership owner, int nodeId, IPAddress address, long incarnation) : IMembershipProvider
    {
        private readonly CancellationTokenSource _liveness = new();

        public int LocalNodeId => nodeId;

        public CancellationToken Liveness => _liveness.Token;

        public void Fence() => _liveness.Cancel();

        public async Task<MembershipView> JoinAsync(string lockspace, CancellationToken cancellationToken)
        {
            Channel<MembershipView> channel;
            lock (owner._lock)
            {
                ObjectDisposedException.ThrowIf(_liveness.IsCancellationRequested, this);
                if (!owner._spaces.TryGetValue(lockspace, out var space))
                {
                    owner._spaces[lockspace] = space = new Space(lockspace);
                }

                if (space.Channels.ContainsKey(nodeId))
                {
                    throw new InvalidOperationException($"Node {nodeId} already joined lockspace '{lockspace}'.");
                }

                channel = Channel.CreateUnbounded<MembershipView>();
                space.Channels[nodeId] = channel;
                var member = new Member(nodeId, address, incarnation);
                space.Members[nodeId] = member;
                space.Joined.Add(member);
                owner.PublishLocked(space);
            }

            while (true)
            {
                var view = await channel.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                if (view.Members.Any(m => m.NodeId == nodeId))
                {
                    return view;
                }
            }
        }

        public Task LeaveAsync(string lockspace, CancellationToken cancellationToken)
        {
            lock (owner._lock)
            {
                if (owner._spaces.TryGetValue(lockspace, out var space) && space.Members.Remove(nodeId, out var member))
                {
                    space.Left.Add(new LeftMember(member, LeaveReason.Leave));
                    space.Channels.Remove(nodeId, out var channel);
                    channel?.Writer.TryComplete();
                    owner.PublishLocked(space);
                }
            }

            return Task.CompletedTask;
        }

        public async IAsyncEnumerable<MembershipView> ViewsAsync(string lockspace, [EnumeratorCancellation] CancellationToken cancellationToken)
        {
            Channel<MembershipView>? channel;
            lock (owner._lock)
            {
                channel = owner._spaces.GetValueOrDefault(lockspace)?.Channels.GetValueOrDefault(nodeId);
            }

            if (channel is null)
            {
                yield break;
            }

            await foreach (var view in ViewStream.ReadAsync(channel.Reader, cancellationToken).ConfigureAwait(false))
            {
                yield return view;
            }
        }

        public async Task<bool> AwaitAllStoppedAsync(string lockspace, long generation, CancellationToken cancellationToken)
        {
            while (true)
            {
                Task changed;
                lock (owner._lock)
                {
                    if (!owner._spaces.TryGetValue(lockspace, out var space) || space.Generation > generation)
                    {
                        return false;
                    }

                    space.Stopped[nodeId] = Math.Max(space.Stopped.GetValueOrDefault(nodeId), generation);
                    if (space.Members.Keys.All(id => space.Stopped.GetValueOrDefault(id) >= generation))
                    {
                        space.Changed.TrySetResult();
                        space.Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        return true;
                    }

                    space.Changed.TrySetResult(); // others may be waiting for our stop
                    space.Changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    changed = space.Changed.Task;
                }

                await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        public Task EvictAsync(int nodeId, CancellationToken cancellationToken)
        {
            owner.Fail(nodeId, LeaveReason.NodeDown);
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync()
        {
            lock (owner._lock)
            {
                if (owner._providers.GetValueOrDefault(nodeId) == this)
                {
                    foreach (var space in owner._spaces.Values)
                    {
                        if (space.Members.Remove(nodeId, out var member))
                        {
                            space.Left.Add(new LeftMember(member, LeaveReason.Leave));
                            space.Channels.Remove(nodeId, out var channel);
                            channel?.Writer.TryComplete();
                            owner.PublishLocked(space);
                        }
                    }

                    owner._providers.Remove(nodeId);
                }
            }

            _liveness.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
