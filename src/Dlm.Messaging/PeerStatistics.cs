using Dlm.Transport;

namespace Dlm.Messaging;

/// <summary>A snapshot of one peer's midcomms and transport state.</summary>
public sealed record PeerStatistics(
    int NodeId,
    PeerState State,
    uint Version,
    uint SeqSend,
    uint SeqNext,
    int Users,
    int QueuedMessages,
    int WaitingForVersion,
    long Delivered,
    long Retransmitted,
    long DuplicatesDropped,
    long GapsDropped,
    long MalformedDropped,
    long OtherDropped,
    long AcksSent,
    long Resets,
    PeerTransportStatistics Transport);
