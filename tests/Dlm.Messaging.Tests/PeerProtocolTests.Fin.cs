using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm.Messaging.Tests;

/// <summary>The DLM_FIN handshake (spec §2.9 table, one test per row, and §9.2 additions).</summary>
public sealed partial class PeerProtocolTests
{
    // Row: CLOSED | first 3.2 message received | set version | ESTABLISHED
    [Fact]
    public void OnReceive_FirstV32MessageInClosed_SetsVersionAndEstablishes()
    {
        var a = new RecordingActions();
        var p = new PeerProtocol(PeerNode);
        Assert.Equal(PeerState.Closed, p.State);
        Assert.Equal(0u, p.Version);

        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.Rcom(RcomType.StatusReply), a));

        Assert.Equal(ProtocolVersion.V32, p.Version);
        Assert.Equal(PeerState.Established, p.State);
        Assert.Empty(a.Calls);
    }

    // Row: CLOSED | node added as member (users 0→1) | — | ESTABLISHED
    [Fact]
    public void AddUser_InClosed_Establishes()
    {
        var a = new RecordingActions();
        var p = new PeerProtocol(PeerNode);

        p.AddUser(a);

        Assert.Equal(PeerState.Established, p.State);
        Assert.Equal(1, p.Users);
        Assert.Equal(0, p.Resets);
        Assert.Empty(a.Calls);
    }

    // Row: any other than CLOSED/ESTABLISHED | added as member while users == 0 | reset | ESTABLISHED
    [Theory]
    [InlineData(PeerState.FinWait1)]
    [InlineData(PeerState.FinWait2)]
    [InlineData(PeerState.LastAck)]
    [InlineData(PeerState.Closing)]
    public void AddUser_NoUsersDuringShutdown_ResetsAndEstablishes(PeerState state)
    {
        var a = new RecordingActions();
        var p = InState(state, a);
        Assert.Equal(0, p.Users);

        p.AddUser(a);

        Assert.Equal(new[] { "ClearQueue()" }, a.Calls);
        Assert.Equal(PeerState.Established, p.State);
        Assert.Equal(1, p.Users);
        Assert.Equal(1, p.Resets);
        Assert.Equal(0u, p.Version);
        Assert.Equal(0u, p.SeqSend);
        Assert.Equal(0u, p.SeqNext);
        Assert.Equal(0, p.UlpDelivered);
        Assert.False(p.StopTx);
        Assert.False(p.StopRx);
        Assert.Null(p.FinSequence);
    }

    [Fact]
    public void AddUser_InEstablishedWithNoUsers_OnlyCounts()
    {
        var a = new RecordingActions();
        var p = Established(a);

        p.AddUser(a);

        Assert.Empty(a.Calls);
        Assert.Equal(0, p.Resets);
        Assert.Equal(PeerState.Established, p.State);
        Assert.Equal(ProtocolVersion.V32, p.Version);
    }

    [Fact]
    public void AddUser_InCloseWaitWithUsers_OnlyCounts()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.CloseWait, a);

        p.AddUser(a);

        Assert.Empty(a.Calls);
        Assert.Equal(2, p.Users);
        Assert.Equal(PeerState.CloseWait, p.State);
        Assert.Equal(0, p.Resets);
    }

    // Row: ESTABLISHED | local shutdown | send FIN (active) | FIN_WAIT1
    [Fact]
    public void StartShutdown_InEstablished_SendsFinAndEntersFinWait1()
    {
        var a = new RecordingActions();
        var p = Established(a);
        a.Observed = p;
        Assert.Equal(0u, p.AssignSequence());
        Assert.Equal(1u, p.AssignSequence());

        Assert.True(p.StartShutdown(a));

        Assert.Equal(new[] { "SendFin(2)" }, a.Calls);
        Assert.Equal(new[] { true }, a.StopTxAtSendFin); // STOP_TX set before the FIN is queued
        Assert.True(p.StopTx);
        Assert.False(p.StopRx);
        Assert.Equal(2u, p.FinSequence);
        Assert.Equal(3u, p.SeqSend);
        Assert.Equal(PeerState.FinWait1, p.State);
        Assert.False(p.IsShutdownComplete);
    }

    // Row: ESTABLISHED | receive FIN, users > 0 | send ACK | CLOSE_WAIT
    [Fact]
    public void OnReceive_FinInEstablishedWithUsers_AcksAndEntersCloseWait()
    {
        var a = new RecordingActions();
        var p = Established(a, users: 1);

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Fin(0), a));

        Assert.Equal(new[] { "SendAck(1)" }, a.Calls);
        Assert.Equal(PeerState.CloseWait, p.State);
        Assert.Equal(1u, p.SeqNext);
        Assert.False(p.StopTx);
        Assert.False(p.StopRx);
        Assert.Null(p.FinSequence);
    }

    // Row: ESTABLISHED | receive FIN, users == 0 | send ACK; set STOP_RX; send FIN (passive) | LAST_ACK
    [Fact]
    public void OnReceive_FinInEstablishedWithoutUsers_AcksSendsFinAndEntersLastAck()
    {
        var a = new RecordingActions();
        var p = Established(a);
        a.Observed = p;

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Fin(0), a));

        Assert.Equal(new[] { "SendAck(1)", "SendFin(0)" }, a.Calls);
        Assert.Equal(new[] { true }, a.StopTxAtSendFin);
        Assert.True(p.StopRx);
        Assert.Equal(0u, p.FinSequence);
        Assert.Equal(PeerState.LastAck, p.State);
    }

    // Row: CLOSE_WAIT | users drops to 0 | set STOP_RX; send FIN (passive) | LAST_ACK
    [Fact]
    public void RemoveUser_LastUserInCloseWait_SendsFinAndEntersLastAck()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.CloseWait, a);
        p.AddUser(a);
        a.Observed = p;

        p.RemoveUser(a);
        Assert.Empty(a.Calls);
        Assert.Equal(PeerState.CloseWait, p.State);

        p.RemoveUser(a);

        Assert.Equal(new[] { "SendFin(0)" }, a.Calls);
        Assert.Equal(new[] { true }, a.StopTxAtSendFin);
        Assert.True(p.StopRx);
        Assert.Equal(0u, p.FinSequence);
        Assert.Equal(PeerState.LastAck, p.State);
    }

    // Row: FIN_WAIT1 | ACK(FIN) | — | FIN_WAIT2
    [Fact]
    public void OnReceive_AckOfFinInFinWait1_EntersFinWait2()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.FinWait1, a);

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Ack(1), a));

        Assert.Equal(new[] { "Release(1)" }, a.Calls);
        Assert.Equal(PeerState.FinWait2, p.State);
        Assert.Null(p.FinSequence);
    }

    [Fact]
    public void OnReceive_AckBeforeFinInFinWait1_StaysInFinWait1()
    {
        var a = new RecordingActions();
        var p = Established(a);
        p.AssignSequence();
        p.AssignSequence();
        Assert.True(p.StartShutdown(a)); // FIN = seq 2
        a.Calls.Clear();

        Receive(p, PeerPackets.Ack(2), a);
        Assert.Equal(PeerState.FinWait1, p.State);
        Assert.Equal(2u, p.FinSequence);

        Receive(p, PeerPackets.Ack(3), a);
        Assert.Equal(new[] { "Release(2)", "Release(3)" }, a.Calls);
        Assert.Equal(PeerState.FinWait2, p.State);
    }

    // Row: FIN_WAIT1 | receive FIN (simultaneous close) | send ACK; set STOP_RX | CLOSING
    [Fact]
    public void OnReceive_FinInFinWait1_AcksAndEntersClosing()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.FinWait1, a);

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Fin(0), a));

        Assert.Equal(new[] { "SendAck(1)" }, a.Calls);
        Assert.True(p.StopRx);
        Assert.Equal(0u, p.FinSequence);
        Assert.Equal(PeerState.Closing, p.State);
    }

    // Row: FIN_WAIT2 | receive FIN | send ACK; reset | CLOSED
    [Fact]
    public void OnReceive_FinInFinWait2_AcksResetsAndCloses()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.FinWait2, a);

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Fin(0), a));

        Assert.Equal(new[] { "SendAck(1)", "ClearQueue()" }, a.Calls);
        AssertReset(p);
    }

    // Row: CLOSING | ACK(FIN) | reset | CLOSED
    [Fact]
    public void OnReceive_AckOfFinInClosing_ResetsAndCloses()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.Closing, a);

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Ack(1), a));

        Assert.Equal(new[] { "Release(1)", "ClearQueue()" }, a.Calls);
        AssertReset(p);
    }

    // Row: LAST_ACK | ACK(FIN) | reset | CLOSED
    [Fact]
    public void OnReceive_AckOfFinInLastAck_ResetsAndCloses()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.LastAck, a);

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Ack(1), a));

        Assert.Equal(new[] { "Release(1)", "ClearQueue()" }, a.Calls);
        AssertReset(p);
    }

    // Row: LAST_ACK | receive FIN | ignore | LAST_ACK (the sequence number is still consumed)
    [Fact]
    public void OnReceive_FinInLastAck_IgnoredButSequenceConsumed()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.LastAck, a);
        Assert.Equal(1u, p.SeqNext);

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Fin(1), a));

        Assert.Empty(a.Calls);
        Assert.Equal(2u, p.SeqNext);
        Assert.Equal(PeerState.LastAck, p.State);
        Assert.Equal(0u, p.FinSequence);
    }

    // Row: CLOSED | ACK(FIN) (late) | just wake waiters | CLOSED
    [Fact]
    public void OnAck_LateAckOfFinInClosed_OnlyReleases()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.LastAck, a);
        Receive(p, PeerPackets.Ack(1), a);
        Assert.Equal(PeerState.Closed, p.State);
        a.Calls.Clear();

        p.OnAck(1, a);

        Assert.Equal(new[] { "Release(1)" }, a.Calls);
        Assert.Equal(PeerState.Closed, p.State);
        Assert.Equal(1, p.Resets);
    }

    [Fact]
    public void OnReceive_LateAckInClosed_VersionDetectionEstablishesFirst()
    {
        // After a reset the version is 0 again, so the late ACK (a 3.2 message) first re-detects
        // the version and moves CLOSED → ESTABLISHED (spec §2.4 step 3, as the kernel does).
        var a = new RecordingActions();
        var p = InState(PeerState.LastAck, a);
        Receive(p, PeerPackets.Ack(1), a);
        a.Calls.Clear();

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Ack(1), a));

        Assert.Equal(new[] { "Release(1)" }, a.Calls);
        Assert.Equal(PeerState.Established, p.State);
        Assert.Equal(1, p.Resets);
    }

    // Row: any | node closed by configuration | CLOSE flag, wake waiters, discard (reset)
    [Theory]
    [InlineData(PeerState.Closed)]
    [InlineData(PeerState.Established)]
    [InlineData(PeerState.FinWait1)]
    [InlineData(PeerState.FinWait2)]
    [InlineData(PeerState.CloseWait)]
    [InlineData(PeerState.LastAck)]
    [InlineData(PeerState.Closing)]
    public void CloseByConfiguration_AnyState_ResetsAndMarksClosed(PeerState state)
    {
        var a = new RecordingActions();
        var p = InState(state, a);

        p.CloseByConfiguration(a);

        Assert.Equal(new[] { "ClearQueue()" }, a.Calls);
        AssertReset(p);
        Assert.True(p.IsClosedByConfiguration);
        Assert.Equal(0, p.Users);
        Assert.True(p.IsShutdownComplete);
        Assert.True(p.IsVersionSettled);
        Assert.False(p.StartShutdown(a));
        Assert.Single(a.Calls);
    }

    // The node is configured again (a new incarnation, e.g. after MembershipDriver closed it): our
    // shutdown waits for its version and leaves it with FIN again, instead of skipping it for good.
    [Fact]
    public void CloseByConfiguration_ThenMemberAgain_ShutdownSendsFinAgain()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.Established, a);
        p.CloseByConfiguration(a);

        p.AddUser(a);

        Assert.False(p.IsClosedByConfiguration);
        Assert.Equal(PeerState.Established, p.State);
        Assert.False(p.IsVersionSettled); // version 0 after the reset: shutdown waits for it (spec §2.8)
        Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(0), a)); // the new incarnation starts at 0
        p.RemoveUser(a);
        a.Calls.Clear();
        Assert.True(p.StartShutdown(a));
        Assert.Equal(PeerState.FinWait1, p.State);
        Assert.Equal(new[] { "SendFin(0)" }, a.Calls);
        Assert.False(p.IsShutdownComplete);
    }

    // Row: other combos | — | ignore | unchanged (§9.2: a FIN still consumes its sequence number)
    [Theory]
    [InlineData(PeerState.CloseWait)]
    [InlineData(PeerState.Closing)]
    public void OnReceive_FinInCloseWaitOrClosing_ConsumesSequenceAndAnswersNothing(PeerState state)
    {
        var a = new RecordingActions();
        var p = InState(state, a);
        Assert.Equal(1u, p.SeqNext);

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Fin(1), a));

        Assert.Empty(a.Calls);
        Assert.Equal(2u, p.SeqNext);
        Assert.Equal(state, p.State);
    }

    [Fact]
    public void OnReceive_FinInClosed_VersionDetectionEstablishesFirst()
    {
        // CLOSED always has version 0 here (reset clears it), so a FIN is a first 3.2 message:
        // it establishes, and is then handled as in ESTABLISHED with no users (passive close).
        var a = new RecordingActions();
        var p = new PeerProtocol(PeerNode);

        Assert.Equal(ReceiveVerdict.Consumed, Receive(p, PeerPackets.Fin(0), a));

        Assert.Equal(new[] { "SendAck(1)", "SendFin(0)" }, a.Calls);
        Assert.Equal(PeerState.LastAck, p.State);
    }

    [Theory]
    [InlineData(PeerState.FinWait1)]
    [InlineData(PeerState.FinWait2)]
    [InlineData(PeerState.CloseWait)]
    [InlineData(PeerState.LastAck)]
    [InlineData(PeerState.Closing)]
    public void StartShutdown_OutsideEstablished_SendsNothingAndWaits(PeerState state)
    {
        var a = new RecordingActions();
        var p = InState(state, a);
        var seqSend = p.SeqSend;

        Assert.True(p.StartShutdown(a));

        Assert.Empty(a.Calls);
        Assert.Equal(state, p.State);
        Assert.Equal(seqSend, p.SeqSend);
        Assert.False(p.IsShutdownComplete);
    }

    [Fact]
    public void RemoveUser_LastUserInEstablished_SendsNothing()
    {
        var a = new RecordingActions();
        var p = Established(a, users: 1);

        p.RemoveUser(a);

        Assert.Empty(a.Calls);
        Assert.Equal(PeerState.Established, p.State);
    }

    [Fact]
    public void OnReceive_AckInFinWait2_OnlyReleases()
    {
        var a = new RecordingActions();
        var p = InState(PeerState.FinWait2, a);

        Receive(p, PeerPackets.Ack(1), a);

        Assert.Equal(new[] { "Release(1)" }, a.Calls);
        Assert.Equal(PeerState.FinWait2, p.State);
    }

    // ---- two protocols wired through their recorded actions -----------------------------------

    [Fact]
    public void Handshake_ActiveAndPassiveWithoutUsers_BothEndClosedAndReset()
    {
        var (a, aActions, b, bActions) = Pair();
        // Some data from A first: the FIN takes the next sequence number.
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(ReceiveVerdict.Deliver, Receive(b, PeerPackets.WrappedMessage(a.AssignSequence(), LocalNode), bActions));
        }

        Assert.True(a.StartShutdown(aActions));
        Assert.Equal(PeerState.FinWait1, a.State);
        Deliver(aActions, b, bActions);      // FIN(2) → B: ACK(3), FIN(0)
        Assert.Equal(PeerState.LastAck, b.State);
        Deliver(bActions, a, aActions);      // → A: FIN_WAIT2, then ACK(1) + reset
        Assert.Equal(PeerState.Closed, a.State);
        Deliver(aActions, b, bActions);      // ACK(1) → B: reset

        Assert.Equal(new[] { "SendFin(2)", "Release(3)", "SendAck(1)", "ClearQueue()" }, aActions.Calls);
        Assert.Equal(new[] { "SendAck(3)", "SendFin(0)", "Release(1)", "ClearQueue()" }, bActions.Calls);
        AssertReset(a);
        AssertReset(b);
        Assert.True(a.IsShutdownComplete);
    }

    [Fact]
    public void Handshake_PassiveWithUsers_WaitsInCloseWaitUntilLastUserLeaves()
    {
        var (a, aActions, b, bActions) = Pair();
        b.AddUser(bActions);

        Assert.True(a.StartShutdown(aActions));
        Deliver(aActions, b, bActions);      // FIN(0) → B: ACK(1), CLOSE_WAIT
        Deliver(bActions, a, aActions);
        Assert.Equal(PeerState.CloseWait, b.State);
        Assert.Equal(PeerState.FinWait2, a.State);

        // B may still send to A while in CLOSE_WAIT.
        Assert.Equal(ReceiveVerdict.Deliver, Receive(a, PeerPackets.WrappedMessage(b.AssignSequence(), PeerNode), aActions));

        b.RemoveUser(bActions);              // → FIN(1), LAST_ACK
        Assert.Equal(PeerState.LastAck, b.State);
        Pump(a, aActions, b, bActions);

        Assert.Equal(new[] { "SendAck(1)", "SendFin(1)", "Release(2)", "ClearQueue()" }, bActions.Calls);
        AssertReset(a);
        AssertReset(b);
    }

    [Fact]
    public void Handshake_SimultaneousClose_BothPassThroughClosingToClosed()
    {
        var (a, aActions, b, bActions) = Pair();

        Assert.True(a.StartShutdown(aActions));
        Assert.True(b.StartShutdown(bActions));
        Deliver(aActions, b, bActions);      // A's FIN → B: ACK(1), CLOSING
        Assert.Equal(PeerState.Closing, b.State);
        Deliver(bActions, a, aActions);      // B's FIN, ACK(1) → A: ACK(1), CLOSING, then reset
        Assert.Equal(PeerState.Closed, a.State);
        Deliver(aActions, b, bActions);      // A's ACK(1) → B: reset

        Assert.Equal(new[] { "SendFin(0)", "SendAck(1)", "Release(1)", "ClearQueue()" }, aActions.Calls);
        Assert.Equal(new[] { "SendFin(0)", "SendAck(1)", "Release(1)", "ClearQueue()" }, bActions.Calls);
        AssertReset(a);
        AssertReset(b);
    }

    /// <summary>A (node 1) and B (node 2), each knowing the other as 3.2 and ESTABLISHED.</summary>
    private static (PeerProtocol A, RecordingActions AActions, PeerProtocol B, RecordingActions BActions) Pair()
    {
        var aActions = new RecordingActions(LocalNode);
        var bActions = new RecordingActions(PeerNode);
        var a = new PeerProtocol(PeerNode);
        var b = new PeerProtocol(LocalNode);
        Assert.Equal(ReceiveVerdict.Deliver, Receive(a, PeerPackets.Rcom(RcomType.Status, PeerNode), aActions));
        Assert.Equal(ReceiveVerdict.Deliver, Receive(b, PeerPackets.Rcom(RcomType.StatusReply, LocalNode), bActions));
        Assert.Equal(PeerState.Established, a.State);
        Assert.Equal(PeerState.Established, b.State);
        return (a, aActions, b, bActions);
    }

    /// <summary>Hands everything <paramref name="from"/> queued so far to <paramref name="to"/>, in order.</summary>
    private static void Deliver(RecordingActions from, PeerProtocol to, RecordingActions toActions)
    {
        var batch = from.Outbox.ToArray();
        from.Outbox.Clear();
        foreach (var bytes in batch)
        {
            Assert.Equal(ReceiveVerdict.Consumed, Receive(to, bytes, toActions));
        }
    }

    private static void Pump(PeerProtocol a, RecordingActions aActions, PeerProtocol b, RecordingActions bActions)
    {
        for (var rounds = 0; aActions.Outbox.Count + bActions.Outbox.Count > 0; rounds++)
        {
            Assert.True(rounds < 10, "the handshake does not settle");
            Deliver(aActions, b, bActions);
            Deliver(bActions, a, aActions);
        }
    }

    private static void AssertReset(PeerProtocol p)
    {
        Assert.Equal(PeerState.Closed, p.State);
        Assert.Equal(0u, p.Version);
        Assert.Equal(0u, p.SeqSend);
        Assert.Equal(0u, p.SeqNext);
        Assert.Equal(0, p.UlpDelivered);
        Assert.False(p.StopTx);
        Assert.False(p.StopRx);
        Assert.Null(p.FinSequence);
        Assert.True(p.Resets >= 1);
    }
}
