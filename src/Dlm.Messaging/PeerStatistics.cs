using Dlm.Transport;

namespace Dlm.Messaging;

/// <summary>
/// A snapshot of one peer's midcomms and transport state. <see cref="HandlerFailures"/> counts delivered
/// messages on which the <see cref="IMessageHandler"/> threw (each dropped, delivery going on), and
/// calls of a <see cref="MessagingNode.PeerStateChanged"/> subscriber that threw.
/// </summary>
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
    long HandlerFailures,
    PeerTransportStatistics Transport);
