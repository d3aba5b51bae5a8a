using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Dlm.Membership;

/// <summary>
/// Membership changed by the program itself: a fixed member set to start with, then <see cref="Remove"/>
/// and <see cref="Add"/> publish new views. Its stop barrier does not wait: it is for peers that run their
/// own membership control, such as a Linux kernel node configured by its <c>dlm_controld</c>, whose
/// recovery barriers (spec §5.4) then keep the two sides in step.
/// </summary>
public sealed class ManualMembership : IMembershipProvider
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, Member> _members;
    private readonly Channel<MembershipView> _views = Channel.CreateUnbounded<MembershipView>();
    private readonly CancellationTokenSource _liveness = new();
    private string? _lockspace;
    private long _generation = 1;

    /// <summary>Starts with <paramref name="members"/> (this node among them) at generation 1.</summary>
    public ManualMembership(int localNodeId, IEnumerable<Member> members)
    {
        LocalNodeId = localNodeId;
        _members = members.ToDictionary(m => m.NodeId);
    }

    /// <inheritdoc/>
    public int LocalNodeId { get; }

    /// <inheritdoc/>
    public CancellationToken Liveness => _liveness.Token;

    /// <summary>Node <paramref name="nodeId"/> left (e.g. it sent FIN): a new view without it.</summary>
    public void Remove(int nodeId, LeaveReason reason)
    {
        lock (_lock)
        {
            if (_members.Remove(nodeId, out var member))
            {
                Publish([], [new LeftMember(member, reason)]);
            }
        }
    }

    /// <summary>A node joins: a new view with it.</summary>
    public void Add(Member member)
    {
        ArgumentNullException.ThrowIfNull(member);
        lock (_lock)
        {
            _members[member.NodeId] = member;
            Publish([member], []);
        }
    }

    /// <inheritdoc/>
    public Task<MembershipView> JoinAsync(string lockspace, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            _lockspace = lockspace;
            var members = Sorted();
            return Task.FromResult(new MembershipView(lockspace, _generation, members, members, []));
        }
    }

    /// <inheritdoc/>
    public Task LeaveAsync(string lockspace, CancellationToken cancellationToken)
    {
        _views.Writer.TryComplete();
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<MembershipView> ViewsAsync(string lockspace, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var view in _views.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return view;
        }
    }

    /// <inheritdoc/>
    public Task<bool> AwaitAllStoppedAsync(string lockspace, long generation, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            return Task.FromResult(generation == _generation);
        }
    }

    /// <inheritdoc/>
    public Task EvictAsync(int nodeId, CancellationToken cancellationToken)
    {
        Remove(nodeId, LeaveReason.NodeDown);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        _views.Writer.TryComplete();
        _liveness.Dispose();
        return ValueTask.CompletedTask;
    }

    private void Publish(IReadOnlyList<Member> joined, IReadOnlyList<LeftMember> left)
    {
        _generation++;
        if (_lockspace is { } name)
        {
            _views.Writer.TryWrite(new MembershipView(name, _generation, Sorted(), joined, left));
        }
    }

    private Member[] Sorted() => [.. _members.Values.OrderBy(m => m.NodeId)];
}
