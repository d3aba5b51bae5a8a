namespace Dlm.Messaging;

internal sealed partial class PeerProtocol
{
    /// <summary>A cumulative ACK (spec §2.6): release what it covers; an ACK of our FIN advances the handshake (§2.9).</summary>
    public void OnAck(uint nextExpected, IPeerActions actions)
    {
        actions.Release(nextExpected);
        if (FinSequence is not { } fin || (int)(fin - nextExpected) >= 0)
        {
            return;
        }

        FinSequence = null;
        switch (State)
        {
            case PeerState.FinWait1:
                State = PeerState.FinWait2;
                break;
            case PeerState.Closing:
            case PeerState.LastAck:
                Reset(actions);
                break;
            default:
                // CLOSED: a late ACK(FIN) only wakes waiters; anything else is unexpected and ignored.
                break;
        }
    }

    // spec §2.9, "receive FIN" rows (6.3+: ACK only from ESTABLISHED, FIN_WAIT1, FIN_WAIT2).
    private void OnFin(IPeerActions actions)
    {
        switch (State)
        {
            case PeerState.Established when Users > 0:
                SendAck(actions);
                State = PeerState.CloseWait;
                break;
            case PeerState.Established:
                SendAck(actions);
                StopRx = true;
                SendFin(actions);
                State = PeerState.LastAck;
                break;
            case PeerState.FinWait1:
                SendAck(actions);
                StopRx = true;
                State = PeerState.Closing;
                break;
            case PeerState.FinWait2:
                SendAck(actions);
                Reset(actions);
                break;
            default:
                // LAST_ACK: ignore. CLOSED, CLOSE_WAIT, CLOSING: the sequence number is consumed, nothing answered (spec §9.2).
                break;
        }
    }

    /// <summary>
    /// The peer became a member of one of our lockspaces (spec §2.9 rows 2-3). After a close by
    /// configuration this is the node configured again: a new incarnation, which our shutdown
    /// leaves with the FIN handshake like any other.
    /// </summary>
    public void AddUser(IPeerActions actions)
    {
        IsClosedByConfiguration = false;
        if (Users++ > 0)
        {
            return;
        }

        if (State is not (PeerState.Closed or PeerState.Established))
        {
            Reset(actions); // "shutdown stuck"
        }

        State = PeerState.Established;
    }

    /// <summary>The peer left one of our lockspaces; the last one ends a CLOSE_WAIT (spec §2.9, §2.11: ignored at 0).</summary>
    public void RemoveUser(IPeerActions actions)
    {
        if (Users == 0)
        {
            return;
        }

        if (--Users == 0 && State == PeerState.CloseWait)
        {
            StopRx = true;
            SendFin(actions);
            State = PeerState.LastAck;
        }
    }

    /// <summary>
    /// The last local lockspace is released: every member is removed first (spec §9.2,
    /// <c>dlm_clear_members</c> before <c>dlm_midcomms_shutdown</c>), which ends a CLOSE_WAIT with our FIN.
    /// </summary>
    public void ClearUsers(IPeerActions actions)
    {
        while (Users > 0)
        {
            RemoveUser(actions);
        }
    }

    /// <summary>
    /// Local shutdown (last lockspace released, spec §2.9): a 3.2 peer in ESTABLISHED gets our FIN.
    /// Returns false when there is nothing to wait for (not 3.2, or already CLOSED).
    /// </summary>
    public bool StartShutdown(IPeerActions actions)
    {
        if (Version != Dlm.Protocol.ProtocolVersion.V32 || IsClosedByConfiguration)
        {
            return false;
        }

        switch (State)
        {
            case PeerState.Established:
                SendFin(actions);
                State = PeerState.FinWait1;
                return true;
            case PeerState.Closed:
                return false;
            default:
                return true; // CLOSE_WAIT, LAST_ACK, ...: send nothing, wait for CLOSED (spec §9.2)
        }
    }

    /// <summary>True when shutdown has nothing more to wait for from this peer.</summary>
    public bool IsShutdownComplete => State == PeerState.Closed || IsClosedByConfiguration || Version != Dlm.Protocol.ProtocolVersion.V32;

    /// <summary>True when the version-wait before shutdown is over (spec §2.8, 6.3+).</summary>
    public bool IsVersionSettled => Version != 0 || State == PeerState.Closed || IsClosedByConfiguration;

    /// <summary>Node closed by configuration (left or fenced, spec §2.9 last row): reset and stop waiting.</summary>
    public void CloseByConfiguration(IPeerActions actions)
    {
        Reset(actions);
        Users = 0;
        IsClosedByConfiguration = true;
    }

    /// <summary>Forced reset at the end of shutdown (spec §3.6: midcomms resets every node).</summary>
    public void ResetAfterShutdown(IPeerActions actions) => Reset(actions);

    // STOP_TX is set before the FIN is committed (6.3 fix "race setting stop tx flag").
    private void SendFin(IPeerActions actions)
    {
        StopTx = true;
        var seq = AssignSequence();
        FinSequence = seq;
        actions.SendFin(seq);
    }
}
