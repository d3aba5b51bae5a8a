using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm.Messaging;

public sealed partial class MessagingNode
{
    /// <inheritdoc/>
    void ITransportHandler.OnMessages(int nodeId, ReadOnlySpan<byte> messages)
    {
        if (FindPeer(nodeId) is not { } peer)
        {
            return; // the transport only serves configured peers
        }

        // Messages from one peer reach the handler in sequence order even when they arrive on two
        // sockets (main and othercon, spec §3.3): one batch at a time per peer, under its receive lock.
        using (peer.ReceiveLock.EnterScope())
        {
            if (peer.Connection.ReceivingFromClosedSocket)
            {
                // Read from a socket of the sequence space CloseNodeAsync ended: its reset came first, under
                // this lock, and the new incarnation must not see the old one's messages (spec §2.9 last row).
                MessagingLog.DroppedAfterClose(_logger, nodeId, messages.Length);
                return;
            }

            var before = peer.Protocol.Delivered;
            var epoch = peer.Connection.Epoch;
            try
            {
                while (!messages.IsEmpty)
                {
                    Receive(peer, FrameReader.Next(ref messages));
                    if (peer.Connection.Epoch != epoch)
                    {
                        DroppedAfterClose(nodeId, messages.Length);
                        break;
                    }
                }
            }
            finally
            {
                if (peer.Protocol.Delivered - before is > 0 and var delivered)
                {
                    peer.Protocol.PublishAckDue();
                    MessagingMetrics.Delivered.Add(delivered); // once per batch
                }
            }
        }
    }

    // The handler closed this node (CloseNodeAsync, on this thread) mid-read: the rest of the read belongs to the
    // sequence space that ended, as the next reads from this socket do. Out of line: the read loop is hot.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DroppedAfterClose(int nodeId, int bytes) => MessagingLog.DroppedAfterClose(_logger, nodeId, bytes);

    // One message, under the peer's receive lock.
    private void Receive(Peer peer, ReadOnlySpan<byte> message)
    {
        // The common case, a wrapped DLM_MSG that passes every check, in one pass; the rest in two steps.
        var valid = true;
        ProtocolError error = default;
        if (!PacketDecoder.TryDecodeWrappedMessage(message, out var packet))
        {
            if (!PacketDecoder.TryDecodeFrame(message, out packet, out error))
            {
                // A malformed frame or envelope is dropped; inside OPTS it consumes no sequence number (spec §2.4).
                DropMalformed(peer, error);
                return;
            }

            // Bad contents behind a sound envelope (a name over 64 bytes, an unknown type, a bad mode) pass
            // midcomms: the sequence number is consumed and the message rejected after it, as the kernel's
            // lock layer does (spec §2.4, §4.20). Dropping it before would stall the peer's stream for good.
            valid = PacketDecoder.TryValidateBody(packet, out error);
        }

        // The receive lock is held for the whole batch (OnMessages). The next message in sequence needs
        // nothing else (the ACK after every 256 is posted without the peer lock); the rest takes the peer
        // lock, which senders share.
        var verdict = ReceiveVerdict.Deliver;
        if (!valid || !peer.Protocol.TryAcceptInOrder(packet, peer))
        {
            using (peer.SyncRoot.EnterScope())
            {
                var (state, version) = (peer.Protocol.State, peer.Protocol.Version);
                verdict = peer.Protocol.OnReceive(packet, peer, valid);
                if (state != peer.Protocol.State || version != peer.Protocol.Version)
                {
                    OnStateChanged(peer, state, version);
                }
            }
        }

        switch (verdict)
        {
            case ReceiveVerdict.Malformed:
                DropMalformed(peer, error);
                break;
            case ReceiveVerdict.Deliver:
                Deliver(peer, packet);
                break;
            case ReceiveVerdict.Consumed:
                break;
            case ReceiveVerdict.Duplicate:
                MessagingMetrics.Duplicates.Add(1);
                break;
            default:
                MessagingMetrics.Dropped.Add(1);
                MessagingLog.Dropped(_logger, peer.Protocol.NodeId, verdict);
                break;
        }
    }

    // A handler that throws loses only that message: the sequence number is consumed and the rest of the
    // batch is delivered, so one bad message cannot stall the peer's stream.
    private void Deliver(Peer peer, in Packet packet)
    {
        try
        {
            _handler.OnMessage(peer.Protocol.NodeId, packet);
        }
#pragma warning disable CA1031 // the handler is the application's; its failure is logged and counted, never fatal here
        catch (Exception e)
#pragma warning restore CA1031
        {
            Interlocked.Increment(ref peer.HandlerFailures);
            MessagingLog.HandlerFailed(_logger, e, peer.Protocol.NodeId);
        }
    }

    private void DropMalformed(Peer peer, ProtocolError error)
    {
        Interlocked.Increment(ref peer.MalformedDropped);
        MessagingMetrics.Dropped.Add(1);
        MessagingLog.Malformed(_logger, peer.Protocol.NodeId, error);
    }

    /// <inheritdoc/>
    void ITransportHandler.OnConnected(int nodeId, int retransmitted)
    {
        if (retransmitted > 0 && FindPeer(nodeId) is { } peer)
        {
            Interlocked.Add(ref peer.Retransmitted, retransmitted);
            MessagingMetrics.Retransmits.Add(retransmitted);
            MessagingLog.Retransmitting(_logger, nodeId, retransmitted);
        }
    }

    // Under the peer lock. A newly known version releases the messages held for it (spec §2.3). The
    // application's subscribers hear of a new state last, once the protocol's own work is done.
    private void OnStateChanged(Peer peer, PeerState oldState, uint oldVersion)
    {
        var protocol = peer.Protocol;
        if (oldState != protocol.State)
        {
            MessagingLog.StateChanged(_logger, protocol.NodeId, oldState, protocol.State);
        }

        if (oldVersion == 0 && protocol.Version != 0)
        {
            MessagingLog.VersionDetected(_logger, protocol.NodeId, WireNames.OfVersion(protocol.Version));
            FlushWaiting(peer);
        }

        peer.NotifyChanged();
        if (oldState != protocol.State && PeerStateChanged is { } subscribers)
        {
            RaisePeerStateChanged(peer, subscribers, protocol.State);
        }
    }

    // Each subscriber on its own: one that throws is logged and counted, and neither stops the others nor
    // reaches the receive path, where it would cost the rest of the batch (a gap the peer never refills).
    private void RaisePeerStateChanged(Peer peer, Action<int, PeerState> subscribers, PeerState state)
    {
        foreach (var subscriber in subscribers.GetInvocationList())
        {
            try
            {
                ((Action<int, PeerState>)subscriber)(peer.Protocol.NodeId, state);
            }
#pragma warning disable CA1031 // the subscriber is the application's; its failure is logged and counted, never fatal here
            catch (Exception e)
#pragma warning restore CA1031
            {
                Interlocked.Increment(ref peer.HandlerFailures);
                MessagingLog.StateSubscriberFailed(_logger, e, peer.Protocol.NodeId, state);
            }
        }
    }

    private void FlushWaiting(Peer peer)
    {
        foreach (var inner in peer.WaitingForVersion)
        {
            var command = (DlmCommand)inner[14];
            var rcomType = command == DlmCommand.Rcom ? (RcomType)BinaryPrimitives.ReadInt32LittleEndian(inner.AsSpan(16)) : 0;
            var rcomResult = command == DlmCommand.Rcom ? BinaryPrimitives.ReadInt32LittleEndian(inner.AsSpan(20)) : 0;
            var mode = peer.Protocol.ClassifySend(command, rcomType, rcomResult);
            inner.CopyTo(Place(peer, mode, command, inner.Length, mayWriteInline: false, out _)); // under the lock: the send loop writes it
        }

        peer.WaitingForVersion.Clear();
    }
}
