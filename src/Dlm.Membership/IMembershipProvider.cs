using System.Net;

namespace Dlm.Membership;

/// <summary>Why a member left a view: a clean leave needs no fencing; a failure does (membership contract rule 3).</summary>
public enum LeaveReason
{
    /// <summary>The node left the lockspace on purpose.</summary>
    Leave,
    /// <summary>The node's process died (or stopped proving it is alive).</summary>
    ProcessDown,
    /// <summary>The whole node is gone (or was removed by an administrator).</summary>
    NodeDown,
}

/// <summary>A lockspace member: node id, address, incarnation (changes when the node comes back) and directory weight.</summary>
public sealed record Member(int NodeId, IPAddress Address, long Incarnation, int Weight = 1);

/// <summary>A member that left a view and why.</summary>
public sealed record LeftMember(Member Member, LeaveReason Reason);

/// <summary>
/// One membership view of a lockspace: every member sees the same views in the same order, each
/// with a larger generation (membership contract rules 1 and 4).
/// </summary>
public sealed record MembershipView(string Lockspace, long Generation, IReadOnlyList<Member> Members,
    IReadOnlyList<Member> Joined, IReadOnlyList<LeftMember> Left, bool Quorate = true);

/// <summary>
/// Where lockspace membership comes from (the role of <c>dlm_controld</c>, spec §5.1). The engine
/// stops, waits for <see cref="AwaitAllStoppedAsync"/>, recovers and restarts on every view.
/// </summary>
public interface IMembershipProvider : IAsyncDisposable
{
    /// <summary>This node's id.</summary>
    int LocalNodeId { get; }

    /// <summary>Cancelled when this node can no longer prove it is a member: it must stop every lockspace (self-fencing).</summary>
    CancellationToken Liveness { get; }

    /// <summary>
    /// Asked synchronously before every grant: false as soon as membership can no longer be proven, even
    /// before <see cref="Liveness"/> is cancelled (e.g. a process resumed after a pause longer than its lease).
    /// </summary>
    bool IsLive => !Liveness.IsCancellationRequested;

    /// <summary>Joins <paramref name="lockspace"/>; returns the first view that contains this node.</summary>
    Task<MembershipView> JoinAsync(string lockspace, CancellationToken cancellationToken);

    /// <summary>Leaves <paramref name="lockspace"/> cleanly; the others get a view with this node left for <see cref="LeaveReason.Leave"/>.</summary>
    Task LeaveAsync(string lockspace, CancellationToken cancellationToken);

    /// <summary>The views after the one <see cref="JoinAsync"/> returned, in order; several queued views may be coalesced into the newest.</summary>
    IAsyncEnumerable<MembershipView> ViewsAsync(string lockspace, CancellationToken cancellationToken);

    /// <summary>
    /// The stop barrier: records that this node stopped <paramref name="lockspace"/> for view
    /// <paramref name="generation"/> and waits until every member of that view has. False when a newer view superseded it.
    /// </summary>
    Task<bool> AwaitAllStoppedAsync(string lockspace, long generation, CancellationToken cancellationToken);

    /// <summary>Removes a node by force (an administrator's or a fencing decision).</summary>
    Task EvictAsync(int nodeId, CancellationToken cancellationToken);
}
