using Dlm.Transport;

namespace Dlm.Messaging;

public sealed partial class MessagingNode
{
    /// <summary>
    /// <paramref name="nodeId"/> became a member of one of our lockspaces: count it (the FIN
    /// handshake depends on it, spec §2.9) and connect eagerly (spec §3.3).
    /// </summary>
    public void AddMember(int nodeId)
    {
        var peer = GetPeer(nodeId);
        using (peer.ReceiveLock.EnterScope()) // AddUser may reset the receive state (spec §2.9 "shutdown stuck")
        using (peer.SyncRoot.EnterScope())
        {
            Apply(peer, p => p.Protocol.AddUser(p));
        }

        peer.Connection.Connect();
    }

    /// <summary><paramref name="nodeId"/> left one of our lockspaces; the last one ends a CLOSE_WAIT with our FIN.</summary>
    public void RemoveMember(int nodeId)
    {
        var peer = GetPeer(nodeId);
        using (peer.SyncRoot.EnterScope())
        {
            Apply(peer, p => p.Protocol.RemoveUser(p));
        }
    }

    /// <summary>
    /// Close by configuration (the node left or was fenced, spec §2.9 last row, §3.6): its state is
    /// reset, queued messages dropped, sockets closed; waiters stop waiting. If the node comes back
    /// it starts a new incarnation with a clean sequence space. The task completes when the node's
    /// receive loops have ended, except when called from the handler of a message from that node:
    /// then the rest of that read is dropped, and the task completes once the sockets are aborted
    /// (the caller's own receive loop ends only after the handler returns).
    /// </summary>
    public async Task CloseNodeAsync(int nodeId)
    {
        var peer = GetPeer(nodeId);
        var fromHandler = peer.Connection.OnReceiveThread; // its own loop cannot end before the handler returns
        PeerConnection.ClosedSockets closed;
        using (peer.ReceiveLock.EnterScope()) // a reset: see PeerProtocol.TryAcceptInOrder
        using (peer.SyncRoot.EnterScope())
        {
            // One critical section for the reset and the transport's part, so nothing the old sockets
            // still deliver and nothing a sender queues meanwhile outlives the sequence space that ended:
            // a message read from them is dropped (OnMessages), the queue is empty when the lock opens.
            Apply(peer, p => p.Protocol.CloseByConfiguration(p));
            peer.WaitingForVersion.Clear();
            closed = peer.Connection.CloseLocked(); // a new socket epoch: see OnMessages
        }

        var loops = closed.AbortAsync();
        if (!fromHandler)
        {
            await loops.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Leaves every peer cleanly (spec §2.9, §3.6): removes every lockspace member (a peer in
    /// CLOSE_WAIT gets our FIN, spec §9.2), waits for each peer's version (≤ <see cref="MessagingOptions.VersionWaitTimeout"/>),
    /// sends FIN to each 3.2 peer in ESTABLISHED and waits for CLOSED (≤ <see cref="MessagingOptions.FinTimeout"/>),
    /// all peers in parallel; then the transport half-closes and every node is reset.
    /// </summary>
    public async Task ShutdownAsync()
    {
        foreach (var peer in _peers.Values)
        {
            using (peer.SyncRoot.EnterScope())
            {
                Apply(peer, p => p.Protocol.ClearUsers(p));
            }
        }

        await Task.WhenAll(_peers.Values.Select(LeaveAsync)).ConfigureAwait(false);
        await _transport.ShutdownAsync().ConfigureAwait(false);
        foreach (var peer in _peers.Values)
        {
            using (peer.ReceiveLock.EnterScope()) // a reset: see PeerProtocol.TryAcceptInOrder
            using (peer.SyncRoot.EnterScope())
            {
                Apply(peer, p => p.Protocol.ResetAfterShutdown(p));
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _transport.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Back-pressure: completes when fewer than <paramref name="maxQueued"/> messages to
    /// <paramref name="nodeId"/> are queued or unacknowledged. Sending never blocks; a producer that
    /// can outrun the network awaits this to keep memory bounded. <paramref name="maxQueued"/> is at
    /// least <see cref="MinSendCapacity"/>.
    /// </summary>
    public ValueTask WaitForSendCapacityAsync(int nodeId, int maxQueued, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxQueued, MinSendCapacity);
        return WaitForSendCapacityCoreAsync(GetPeer(nodeId).Connection, maxQueued, cancellationToken);
    }

    /// <summary>
    /// The smallest bound <see cref="WaitForSendCapacityAsync"/> accepts, 257. A peer that sends nothing
    /// back acknowledges only after more than 256 deliveries (spec §2.5), so with a lower bound a producer
    /// could wait for an ACK that never comes.
    /// </summary>
    public const int MinSendCapacity = PeerProtocol.ReceiveAckThreshold + 1;

    private static async ValueTask WaitForSendCapacityCoreAsync(PeerConnection connection, int maxQueued, CancellationToken cancellationToken)
    {
        while (connection.WhenQueueBelowAsync(maxQueued) is { } below)
        {
            await below.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Per-peer state, sequence numbers, queue depth and counters.</summary>
    public PeerStatistics GetStatistics(int nodeId)
    {
        var peer = GetPeer(nodeId);
        var transport = peer.Connection.GetStatistics();
        using (peer.SyncRoot.EnterScope())
        {
            var p = peer.Protocol;
            return new PeerStatistics(nodeId, p.State, p.Version, p.SeqSend, p.SeqNext, p.Users, peer.Connection.QueuedLocked,
                peer.WaitingForVersion.Count, p.Delivered, Interlocked.Read(ref peer.Retransmitted), p.Duplicates, p.Gaps,
                Interlocked.Read(ref peer.MalformedDropped), p.Dropped, p.AcksSent, p.Resets, Interlocked.Read(ref peer.HandlerFailures), transport);
        }
    }

    /// <summary>Statistics of every peer.</summary>
    public IReadOnlyList<PeerStatistics> GetStatistics() => _peers.Keys.Order().Select(GetStatistics).ToList();

    private async Task LeaveAsync(Peer peer)
    {
        await WaitUntilAsync(peer, p => p.IsVersionSettled, _options.VersionWaitTimeout).ConfigureAwait(false);
        bool wait;
        using (peer.SyncRoot.EnterScope())
        {
            var before = peer.Protocol.State;
            wait = peer.Protocol.StartShutdown(peer);
            if (before != peer.Protocol.State)
            {
                OnStateChanged(peer, before, peer.Protocol.Version);
            }
        }

        if (wait && !await WaitUntilAsync(peer, p => p.IsShutdownComplete, _options.FinTimeout).ConfigureAwait(false))
        {
            PeerState state;
            using (peer.SyncRoot.EnterScope())
            {
                state = peer.Protocol.State;
            }

            MessagingLog.FinTimedOut(_logger, peer.Protocol.NodeId, _options.FinTimeout, state);
        }
    }

    /// <summary>
    /// A peer's close-handshake state changed (spec §2.9), e.g. to CLOSE_WAIT when it sent FIN. Raised under
    /// the peer's lock, after midcomms has acted on the change: a handler must return quickly and must not
    /// call back into this node. One that throws is logged and counted in
    /// <see cref="PeerStatistics.HandlerFailures"/>; the other handlers are still called.
    /// </summary>
    public event Action<int, PeerState>? PeerStateChanged;

    /// <summary>Waits until the peer reaches <paramref name="state"/>; false on timeout (tests and diagnostics).</summary>
    internal Task<bool> WaitForStateAsync(int nodeId, PeerState state, TimeSpan timeout) =>
        WaitUntilAsync(GetPeer(nodeId), p => p.State == state, timeout);

    // Waits (no polling: woken by state changes) until the condition holds or the timeout passes.
    private async Task<bool> WaitUntilAsync(Peer peer, Func<PeerProtocol, bool> condition, TimeSpan timeout)
    {
        var time = _options.Transport.TimeProvider;
        var deadline = time.GetTimestamp() + (long)(timeout.TotalSeconds * time.TimestampFrequency);
        while (true)
        {
            Task changed;
            using (peer.SyncRoot.EnterScope())
            {
                if (condition(peer.Protocol))
                {
                    return true;
                }

                changed = peer.Changed;
            }

            var now = time.GetTimestamp();
            if (now >= deadline)
            {
                return false;
            }

            var remaining = time.GetElapsedTime(now, deadline);
            try
            {
                await changed.WaitAsync(remaining, time).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return false;
            }
        }
    }

    // Under the peer lock: run a protocol event and publish any state change.
    private void Apply(Peer peer, Action<Peer> action)
    {
        var (state, version) = (peer.Protocol.State, peer.Protocol.Version);
        action(peer);
        if (state != peer.Protocol.State || version != peer.Protocol.Version)
        {
            OnStateChanged(peer, state, version);
        }
        else
        {
            peer.NotifyChanged();
        }
    }
}
