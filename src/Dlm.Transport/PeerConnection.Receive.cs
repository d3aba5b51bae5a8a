using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Dlm.Protocol;

namespace Dlm.Transport;

public sealed partial class PeerConnection
{
    // spec §3.2: an accepted socket becomes the main connection if there is none (and none is
    // being connected), otherwise the receive-only othercon, replacing an older othercon.
    internal void Adopt(Socket socket)
    {
        Socket? replaced = null;
        string role;
        var retransmitted = -1;
        socket.NoDelay = true;
        SocketMarks.Apply(socket, Node.Mark != 0 ? Node.Mark : _options.ClusterMark);
        var stream = PrepareForUse(socket);
        lock (SyncRoot)
        {
            if (_stopping)
            {
                role = "refused";
            }
            else if (_main is null && !_connecting)
            {
                _main = socket;
                retransmitted = Usable();
                SignalLocked();
                role = "main";
            }
            else
            {
                replaced = _other;
                _other = socket;
                role = "othercon";
            }
        }

        if (role == "refused")
        {
            stream.Dispose();
            socket.Dispose();
            return;
        }

        TransportLog.Accepted(_logger, NodeId, role);
        replaced?.Dispose();
        StartReceiving(socket, stream);
        if (retransmitted >= 0)
        {
            _transport.Handler.OnConnected(NodeId, retransmitted);
        }
    }

    // The stream is made while the socket is still blocking (NetworkStream insists), then the
    // socket turns non-blocking so an inline write can never stall the caller's thread.
    private static NetworkStream PrepareForUse(Socket socket)
    {
        var stream = new NetworkStream(socket, ownsSocket: false);
        socket.Blocking = false;
        return stream;
    }

    private void StartReceiving(Socket socket, NetworkStream stream)
    {
        var loop = Task.Run(() => ReceiveLoopAsync(socket, stream));
        lock (_receiveLoops)
        {
            _receiveLoops.RemoveAll(t => t.IsCompleted);
            _receiveLoops.Add(loop);
        }
    }

    // spec §3.5: read, cut complete messages by h_length, hand them over in arrival order.
    // Processing is inline, so a slow consumer stops the reads (TCP back-pressure) and at most
    // one read buffer plus a partial message is held per connection.
    private async Task ReceiveLoopAsync(Socket socket, NetworkStream stream)
    {
        var reason = "EOF";
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(
            bufferSize: _options.ReceiveBufferSize, minimumReadSize: WireLimits.MaxMessageLength, leaveOpen: true));
        var scratch = new byte[WireLimits.MaxMessageLength]; // a message split across buffer segments is joined here
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(_stop.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                var before = buffer.Length;
                var status = Deliver(ref buffer, scratch);
                var consumed = before - buffer.Length;
                Interlocked.Add(ref _bytesReceived, consumed);
                DlmMetrics.BytesReceived.Add(consumed);
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (status == OperationStatus.InvalidData)
                {
                    reason = "framing error";
                    lock (SyncRoot)
                    {
                        _framingErrors++;
                    }

                    DlmMetrics.FramingErrors.Add(1);
                    TransportLog.FramingError(_logger, NodeId);
                    break;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            reason = e.Message;
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            // The kernel waits for our close after its half-close (spec §9.3): close at once.
            SocketClosed(socket, reason);
        }
    }

    // Hot path. Complete messages inside the first segment are handed over in place; only a message
    // that crosses a segment boundary is copied (into a stack buffer) first.
    private OperationStatus Deliver(ref ReadOnlySequence<byte> buffer, byte[] scratch)
    {
        var delivered = 0;
        try
        {
            while (true)
            {
                var span = buffer.FirstSpan;
                var offset = 0;
                OperationStatus status;
                while ((status = FrameReader.TryReadFrame(span[offset..], out var length)) == OperationStatus.Done)
                {
                    Hand(span.Slice(offset, length), ref delivered);
                    offset += length;
                }

                if (offset > 0)
                {
                    buffer = buffer.Slice(offset);
                }

                if (status == OperationStatus.InvalidData || buffer.IsSingleSegment)
                {
                    return status;
                }

                status = FrameReader.TryReadFrame(ref buffer, out var frame);
                if (status != OperationStatus.Done)
                {
                    return status;
                }

                frame.CopyTo(scratch);
                Hand(scratch.AsSpan(0, (int)frame.Length), ref delivered);
            }
        }
        finally
        {
            if (delivered > 0)
            {
                Interlocked.Add(ref _messagesReceived, delivered);
                _transport.Handler.OnReceiveBatchEnd(NodeId);
            }
        }
    }

    private void Hand(ReadOnlySpan<byte> message, ref int delivered)
    {
        var handler = _transport.Handler;
        if (delivered++ == 0)
        {
            handler.OnReceiveBatchStart(NodeId);
        }

        try
        {
            handler.OnMessage(NodeId, message);
        }
#pragma warning disable CA1031 // a faulty handler must not kill the connection; the message is dropped and logged
        catch (Exception e)
#pragma warning restore CA1031
        {
            TransportLog.HandlerFailed(_logger, e, NodeId);
        }
    }

    // A socket ended (EOF, error, framing error, abort). If it was the main connection and
    // anything is queued or unacknowledged, the send loop reconnects at once (spec §3.3, §2.7).
    private void SocketClosed(Socket socket, string reason)
    {
        var wasOpen = false;
        lock (SyncRoot)
        {
            if (_main == socket && !_connecting)
            {
                _main = null;
                _remainderLength = 0; // never resume half a message on another connection (spec §3.4)
                _ackPending |= _ackKnown; // the last ACK may have died with this socket: cumulative, so repeat it
                wasOpen = true;
                _disconnects++;
                if (_queue.Count > 0)
                {
                    SignalLocked();
                }
            }
            else if (_other == socket)
            {
                _other = null;
                wasOpen = true;
                _disconnects++;
            }

            SignalIfAllClosedLocked();
        }

        socket.Dispose();
        if (wasOpen)
        {
            DlmMetrics.Disconnects.Add(1);
            TransportLog.Closed(_logger, NodeId, reason);
        }
    }
}
