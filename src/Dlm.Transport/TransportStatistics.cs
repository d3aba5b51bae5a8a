namespace Dlm.Transport;

/// <summary>
/// A snapshot of one peer connection's counters. <see cref="Writes"/> counts socket writes that carried
/// data: queued messages are coalesced, so <see cref="BytesSent"/> / <see cref="Writes"/> is the average
/// write, far above one message's size under load (spec §3.4).
/// </summary>
public sealed record PeerTransportStatistics(
    int NodeId,
    bool Connected,
    bool HasInboundOnly,
    int QueuedMessages,
    long RetainedBytes,
    long BytesSent,
    long Writes,
    long BytesReceived,
    long MessagesReceived,
    long Connects,
    long ConnectFailures,
    long Disconnects,
    long FramingErrors);
