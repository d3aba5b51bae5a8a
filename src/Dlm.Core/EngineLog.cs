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
}
