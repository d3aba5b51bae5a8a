using Dlm.Protocol;
using Microsoft.Extensions.Logging;

namespace Dlm.Messaging;

/// <summary>Source-generated log messages of midcomms; event ids 1100-1199.</summary>
internal static partial class MessagingLog
{
    [LoggerMessage(1100, LogLevel.Warning, "Malformed message from node {NodeId} dropped: {Error}")]
    public static partial void Malformed(ILogger logger, int nodeId, ProtocolError error);

    [LoggerMessage(1101, LogLevel.Debug, "Message from node {NodeId} dropped: {Verdict}")]
    public static partial void Dropped(ILogger logger, int nodeId, ReceiveVerdict verdict);

    [LoggerMessage(1102, LogLevel.Information, "Node {NodeId} speaks protocol {Version}")]
    public static partial void VersionDetected(ILogger logger, int nodeId, string version);

    [LoggerMessage(1103, LogLevel.Debug, "Node {NodeId}: {From} -> {To}")]
    public static partial void StateChanged(ILogger logger, int nodeId, PeerState from, PeerState to);

    [LoggerMessage(1104, LogLevel.Information, "Node {NodeId} did not finish the FIN handshake within {Timeout} (state {State}); shutting down anyway")]
    public static partial void FinTimedOut(ILogger logger, int nodeId, TimeSpan timeout, PeerState state);

    [LoggerMessage(1105, LogLevel.Debug, "Node {NodeId}: {Count} unacknowledged messages queued again")]
    public static partial void Retransmitting(ILogger logger, int nodeId, int count);

    [LoggerMessage(1106, LogLevel.Error, "The message handler failed on a message from node {NodeId}; that message is dropped, delivery goes on")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, int nodeId);

    [LoggerMessage(1107, LogLevel.Error, "A PeerStateChanged subscriber failed on node {NodeId} entering {State}; the other subscribers and the protocol go on")]
    public static partial void StateSubscriberFailed(ILogger logger, Exception exception, int nodeId, PeerState state);

    [LoggerMessage(1108, LogLevel.Debug, "Node {NodeId}: {Bytes} bytes read before the node was closed by configuration dropped")]
    public static partial void DroppedAfterClose(ILogger logger, int nodeId, int bytes);
}
