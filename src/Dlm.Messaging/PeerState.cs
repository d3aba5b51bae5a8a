namespace Dlm.Messaging;

/// <summary>The FIN handshake states of a midcomms node (spec §2.2, §2.9); values as the kernel's.</summary>
public enum PeerState
{
    /// <summary>No session: never talked, or the FIN handshake completed.</summary>
    Closed = 1,
    /// <summary>Talking.</summary>
    Established = 2,
    /// <summary>We sent FIN; waiting for its ACK.</summary>
    FinWait1 = 3,
    /// <summary>Our FIN was acknowledged; waiting for the peer's FIN.</summary>
    FinWait2 = 4,
    /// <summary>The peer sent FIN while still a member of one of our lockspaces.</summary>
    CloseWait = 5,
    /// <summary>We answered the peer's FIN with ours; waiting for its ACK.</summary>
    LastAck = 6,
    /// <summary>Both sides sent FIN at once; waiting for the ACK of ours.</summary>
    Closing = 7,
}

/// <summary>How a message goes to a peer, by kind and the peer's version (spec §2.3).</summary>
public enum SendMode
{
    /// <summary>In a DLM_OPTS envelope with the next sequence number, kept until acknowledged.</summary>
    Wrapped,
    /// <summary>As is: no sequence, not retransmitted.</summary>
    Plain,
    /// <summary>The peer's version is unknown: held until it is (never dropped).</summary>
    Wait,
}

/// <summary>What became of a received message (spec §2.4–§2.6).</summary>
public enum ReceiveVerdict
{
    /// <summary>Hand it to the lock / recovery layer.</summary>
    Deliver,
    /// <summary>Consumed by midcomms (ACK, FIN).</summary>
    Consumed,
    /// <summary>Dropped as a duplicate (re-ACKed).</summary>
    Duplicate,
    /// <summary>Dropped: a sequence gap (the sender will retransmit).</summary>
    Gap,
    /// <summary>Dropped: version mismatch (spec §2.8).</summary>
    VersionMismatch,
    /// <summary>Dropped: a command or RCOM type not accepted on this path (spec §2.4 steps 4-5).</summary>
    Unsupported,
    /// <summary>Dropped: <c>h_nodeid</c> is not the connection's node (spec §1.2).</summary>
    WrongNode,
    /// <summary>Dropped: its contents are invalid (a wrapped one has consumed its sequence number, spec §2.4, §4.20).</summary>
    Malformed,
}
