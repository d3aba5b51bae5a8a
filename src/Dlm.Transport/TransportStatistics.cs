namespace Dlm.Transport;

/// <summary>A snapshot of one peer connection's counters.</summary>
public sealed record PeerTransportStatistics(
    int NodeId,
    bool Connected,
    bool HasInboundOnly,
    int QueuedMessages,
    long RetainedBytes,
    long BytesSent,
    long BytesReceived,
    long MessagesReceived,
    long Connects,
    long ConnectFailures,
    long Disconnects,
    long FramingErrors);
