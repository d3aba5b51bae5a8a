using System.Net;
using Microsoft.Extensions.Logging;

namespace Dlm.Transport;

/// <summary>Source-generated log messages of the transport; event ids 1000-1099.</summary>
internal static partial class TransportLog
{
    [LoggerMessage(1000, LogLevel.Information, "Listening on {EndPoint} as node {NodeId}")]
    public static partial void Listening(ILogger logger, EndPoint endPoint, int nodeId);

    [LoggerMessage(1001, LogLevel.Warning, "Connection from non-cluster address {Address} closed")]
    public static partial void UnknownPeer(ILogger logger, IPAddress address);

    [LoggerMessage(1002, LogLevel.Information, "Connection from {Address} refused: transport is stopping")]
    public static partial void RefusedStopping(ILogger logger, IPAddress address);

    [LoggerMessage(1003, LogLevel.Debug, "Connected to node {NodeId} at {EndPoint}; {Retransmitted} retained messages queued again")]
    public static partial void Connected(ILogger logger, int nodeId, EndPoint endPoint, int retransmitted);

    [LoggerMessage(1004, LogLevel.Debug, "Connect to node {NodeId} at {EndPoint} try {Attempt} failed: {Error}")]
    public static partial void ConnectFailed(ILogger logger, int nodeId, EndPoint endPoint, long attempt, string error);

    [LoggerMessage(1005, LogLevel.Debug, "Accepted connection from node {NodeId} as {Role}")]
    public static partial void Accepted(ILogger logger, int nodeId, string role);

    [LoggerMessage(1006, LogLevel.Debug, "Connection to node {NodeId} closed: {Reason}")]
    public static partial void Closed(ILogger logger, int nodeId, string reason);

    [LoggerMessage(1007, LogLevel.Warning, "Framing error from node {NodeId}: h_length outside 16..4096; connection closed")]
    public static partial void FramingError(ILogger logger, int nodeId);

    [LoggerMessage(1008, LogLevel.Error, "Message handler failed on messages from node {NodeId}; the rest of that read was dropped")]
    public static partial void HandlerFailed(ILogger logger, Exception exception, int nodeId);

    [LoggerMessage(1010, LogLevel.Error, "Send loop for node {NodeId} failed; restarting it")]
    public static partial void SendLoopFailed(ILogger logger, Exception exception, int nodeId);

    [LoggerMessage(1012, LogLevel.Error, "Receive thread for node {NodeId} failed; its connection is closed")]
    public static partial void ReceiveLoopFailed(ILogger logger, Exception exception, int nodeId);

    [LoggerMessage(1011, LogLevel.Warning, "Inbound connection from {Address} could not be set up; closed")]
    public static partial void AdoptFailed(ILogger logger, Exception exception, IPAddress address);

    [LoggerMessage(1009, LogLevel.Information, "Node {NodeId} did not close its side within {Timeout}; connection forced closed")]
    public static partial void ShutdownTimedOut(ILogger logger, int nodeId, TimeSpan timeout);

    [LoggerMessage(1013, LogLevel.Warning, "Accepting a connection failed ({Error}); trying again in {Delay}")]
    public static partial void AcceptFailed(ILogger logger, System.Net.Sockets.SocketError error, TimeSpan delay);
}
