using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>
/// A remote owner's lock as its master keeps it (spec §4.1 MSTCPY): the owner node, the owner's
/// lock id (<c>m_remid</c> in messages to the owner) and what the owner told us.
/// </summary>
public sealed class MasterCopy : Lkb
{
    internal MasterCopy(Resource resource, uint id, int ownerNode, uint ownerLockId, LockMode mode, LockFlags flags, bool hasBlockingCallback)
        : base(id, mode, flags, hasBlockingCallback, ownerNode)
    {
        Resource = resource;
        OwnerLockId = ownerLockId;
    }

    /// <summary>The owner's lock id.</summary>
    public uint OwnerLockId { get; }

    /// <summary>Owner process id (informational, <c>m_pid</c>).</summary>
    public int OwnerPid { get; init; }

    /// <summary>
    /// The owner's shared flags (USER, ORPHAN), echoed in every message to the owner: a kernel owner
    /// overwrites its lock's low flag bits with them, so a user-space lock must keep its USER bit (spec §1.5, §9.1.3).
    /// Taken from every REQUEST, CONVERT, UNLOCK and CANCEL, as the kernel does.
    /// </summary>
    public SharedLockFlags SharedFlags { get; internal set; }

    internal Resource Resource { get; }
}

/// <summary>How the lock engine sends DLM_MSG to other nodes (the messaging layer, or a test double).</summary>
public interface IEngineOutbox
{
    /// <summary>Queues <paramref name="message"/> with <paramref name="extra"/> (name or LVB) for <paramref name="nodeId"/>; never blocks.</summary>
    void Send(int nodeId, uint lockspaceId, in DlmMessage message, ReadOnlySpan<byte> extra);

    /// <summary>Queues a recovery message (spec §1.7) for <paramref name="nodeId"/>; never blocks.</summary>
    void SendRcom(int nodeId, uint lockspaceId, in RcomHeader rcom, ReadOnlySpan<byte> payload);
}
