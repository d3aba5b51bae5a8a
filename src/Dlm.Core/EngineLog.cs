using Dlm.Protocol;
using Microsoft.Extensions.Logging;

namespace Dlm.Core;

/// <summary>Source-generated log messages of the lock engine; event ids 1200-1299.</summary>
internal static partial class EngineLog
{
    [LoggerMessage(1200, LogLevel.Debug, "Lockspace {Lockspace}: {Type} from node {NodeId} names lock {LockId:x} that is not its master copy here; answered -ENOENT")]
    public static partial void NotTheSendersCopy(ILogger logger, string lockspace, MessageType type, int nodeId, uint lockId);

    [LoggerMessage(1201, LogLevel.Debug, "Lockspace {Lockspace}: {Type} from node {NodeId} for unknown lock {LockId:x} dropped (normal after a race)")]
    public static partial void UnknownLock(ILogger logger, string lockspace, MessageType type, int nodeId, uint lockId);

    [LoggerMessage(1202, LogLevel.Information, "Lockspace {Lockspace}: REQUEST from node {NodeId} refused with {Result}: this node is not the master")]
    public static partial void NotMaster(ILogger logger, string lockspace, int nodeId, string result);

    [LoggerMessage(1203, LogLevel.Warning, "Lockspace {Lockspace}: {Type} from node {NodeId} is not handled yet; dropped")]
    public static partial void Unhandled(ILogger logger, string lockspace, MessageType type, int nodeId);

    [LoggerMessage(1204, LogLevel.Information, "Lockspace {Lockspace}: recovery {Seq} superseded by a newer stop")]
    public static partial void RecoverySuperseded(ILogger logger, string lockspace, ulong seq);

    [LoggerMessage(1205, LogLevel.Information, "Lockspace {Lockspace}: recovery {Seq} generation {Generation} done ({Removed} removed) in {Milliseconds:F1} ms")]
    public static partial void RecoveryDone(ILogger logger, string lockspace, ulong seq, uint generation, int removed, double milliseconds);

    [LoggerMessage(1206, LogLevel.Debug, "Lockspace {Lockspace}: {Type} from node {NodeId} ignored (status {Status:x}, spec §5.5)")]
    public static partial void RcomIgnored(ILogger logger, string lockspace, RcomType type, int nodeId, uint status);

    [LoggerMessage(1207, LogLevel.Warning, "Lockspace {Lockspace}: no reply to {Type} from node {NodeId} within recover_timer; sending it again")]
    public static partial void RcomTimeout(ILogger logger, string lockspace, RcomType type, int nodeId);

    [LoggerMessage(1208, LogLevel.Warning, "Lockspace {Lockspace}: node {NodeId} names itself master of a resource this node masters; keeping ours (spec §5.6)")]
    public static partial void DirectoryConflict(ILogger logger, string lockspace, int nodeId);

    [LoggerMessage(1209, LogLevel.Information, "Lockspace {Lockspace}: lock {LockId} of owner {OwnerPid} is now an orphan held by this node (PERSISTENT, spec §4.21)")]
    public static partial void Orphaned(ILogger logger, string lockspace, uint lockId, int ownerPid);

    [LoggerMessage(1210, LogLevel.Information, "Lockspace {Lockspace}: PURGE from node {NodeId} for owner {OwnerPid}: {Count} orphans unlocked")]
    public static partial void PurgeReceived(ILogger logger, string lockspace, int nodeId, int ownerPid, int count);
}
