using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net.Sockets;
using Dlm.Protocol;

namespace Dlm.Transport;

public sealed partial class PeerConnection
{
    // How long a receive thread sleeps in poll() at most before it looks at the stop token (a closed
    // socket wakes it at once).
    private const int PollTimeout = 1_000_000; // µs

    // spec §3.2: an accepted socket becomes the main connection if there is none (and none is
    // being connected), otherwise the receive-only othercon, replacing an older othercon.
    internal void Adopt(Socket socket)
    {
        Socket? replaced = null;
        string role;
        var retransmitted = -1;
        socket.NoDelay = true;
        SocketMarks.Apply(socket, Node.Mark != 0 ? Node.Mark : _options.ClusterMark);
        PrepareForUse(socket);
        int epoch;
        using (SyncRoot.EnterScope())
        {
            epoch = _epoch;
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
            socket.Dispose();
            return;
        }

        TransportLog.Accepted(_logger, NodeId, role);
        replaced?.Dispose();
        StartReceiving(socket, epoch);
        if (retransmitted >= 0)
        {
            _transport.Handler.OnConnected(NodeId, retransmitted);
        }
    }

    // Non-blocking: an inline write can never stall the caller's thread, and the receive thread
    // reads without blocking (it waits in poll()).
    private static void PrepareForUse(Socket socket) => socket.Blocking = false;

    // One thread per connection (spec §3.5 receive path). It reads without blocking and, once its
    // socket is drained, looks again briefly before it sleeps in poll(), so a message's arrival finds
    // or wakes the thread that hands it over: no hop from the runtime's socket event thread to the
    // thread pool, which on this VM was most of a round trip.
    // The epoch is the one the socket was installed in (see ReceivingFromClosedSocket).
    private void StartReceiving(Socket socket, int epoch)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                (t_receiving, t_epoch) = (this, epoch);
                ReceiveLoop(socket);
            }
#pragma warning disable CA1031 // an exception escaping a thread ends the process; the loop has closed the socket already
            catch (Exception e)
#pragma warning restore CA1031
            {
                TransportLog.ReceiveLoopFailed(_logger, e, NodeId);
            }
            finally
            {
                done.SetResult();
            }
        })
        {
            IsBackground = true,
            Name = $"dlm receive {NodeId}",
        };
        lock (_receiveLoops)
        {
            _receiveLoops.RemoveAll(t => t.IsCompleted);
            _receiveLoops.Add(done.Task);
        }

        try
        {
            thread.Start();
        }
        catch (OutOfMemoryException e)
        {
            // No thread, so nobody reads this socket: close it (a new connection sends everything again).
            done.SetResult();
            SocketClosed(socket, e.Message);
        }
    }

    // spec §3.5: read, cut complete messages by h_length, hand them over in arrival order. The bytes
    // go through a Pipe that this thread both writes and reads, so a message split across reads is
    // joined without copying the rest. Processing is inline: a slow consumer stops the reads (TCP
    // back-pressure), and at most one read plus a partial message is held per connection.
    private void ReceiveLoop(Socket socket)
    {
        var reason = "EOF";
        var pipe = new Pipe(new PipeOptions(_options.ReceiveMemoryPool, pauseWriterThreshold: 0, minimumSegmentSize: _options.ReceiveBufferSize, useSynchronizationContext: false));
        var scratch = new byte[WireLimits.MaxMessageLength]; // a message split across buffer segments is joined here
        var spinTicks = (long)(_options.ReceiveSpinTime.TotalSeconds * Stopwatch.Frequency);
        var read = 0;
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var memory = pipe.Writer.GetMemory(NextReadSize(read));
                read = socket.Receive(memory.Span, SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock)
                {
                    // Read again after every wake-up, timed out or not: an error pending alone is not
                    // "readable", and only the read reports (and clears) it.
                    WaitReadable(socket, spinTicks);
                    continue;
                }

                if (error != SocketError.Success)
                {
                    reason = error.ToString();
                    break;
                }

                if (read == 0)
                {
                    break; // EOF
                }

                pipe.Writer.Advance(read);
                var flush = pipe.Writer.FlushAsync(); // completes at once: the writer never pauses
                Debug.Assert(flush.IsCompletedSuccessfully, "a pipe without a pause threshold flushes synchronously");
#pragma warning disable VSTHRD002 // completed already (above): this only observes it
                flush.GetAwaiter().GetResult();
#pragma warning restore VSTHRD002
                pipe.Reader.TryRead(out var result);
                var buffer = result.Buffer;
                var before = buffer.Length;
                var status = Deliver(ref buffer, scratch);
                var consumed = before - buffer.Length;
                Interlocked.Add(ref _bytesReceived, consumed);
                DlmMetrics.BytesReceived.Add(consumed);
                pipe.Reader.AdvanceTo(buffer.Start, buffer.End);
                if (status == OperationStatus.InvalidData)
                {
                    reason = "framing error";
                    using (SyncRoot.EnterScope())
                    {
                        _framingErrors++;
                    }

                    DlmMetrics.FramingErrors.Add(1);
                    TransportLog.FramingError(_logger, NodeId);
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            reason = e.Message;
        }
        finally
        {
            if (_stop.IsCancellationRequested && reason == "EOF")
            {
                reason = "stopped";
            }

            pipe.Reader.Complete();
            pipe.Writer.Complete();
            // The kernel waits for our close after its half-close (spec §9.3): close at once.
            SocketClosed(socket, reason);
        }
    }

    // What the next read asks the pipe for. After a read of a whole message's worth or more, a full
    // buffer (ReceiveBufferSize), which the pipe takes from a fresh segment unless the current one
    // still has that much room: a stream reads in large pieces. After a shorter read, whatever room
    // the current segment has left. A peer that trickles a message a few bytes at a time then fills
    // one segment instead of taking a fresh one per read: the incomplete message this thread holds
    // (at most 4,095 bytes, spec §3.5) spans at most two segments (the one it started in and one
    // more), where it could span one per read, up to one per byte (4,095 × 64 KiB), before.
    private int NextReadSize(int lastRead) => lastRead >= WireLimits.MaxMessageLength ? _options.ReceiveBufferSize : 1;

    // Nothing to read: look again for ReceiveSpinTime (50 µs) before sleeping in poll(). An answer in
    // a conversation (a lock request's reply) usually comes back within that, and a thread that is
    // still running takes it at once, where waking a sleeping one costs an idle CPU's wake-up.
    // The spin is timed by Stopwatch, not the injected TimeProvider: it is microseconds of this CPU's
    // time, and a fake clock that never advances would make it spin for ever.
    private static void WaitReadable(Socket socket, long spinTicks)
    {
        var until = Stopwatch.GetTimestamp() + spinTicks;
        var spinner = default(SpinWait);
        while (Stopwatch.GetTimestamp() < until)
        {
            if (socket.Poll(0, SelectMode.SelectRead))
            {
                return;
            }

            spinner.SpinOnce(sleep1Threshold: -1);
        }

        socket.Poll(PollTimeout, SelectMode.SelectRead);
    }

    // Hot path. The complete messages inside the first segment are handed over in place, all in one
    // call; only a message that crosses a segment boundary is copied (into the loop's scratch buffer)
    // and handed over alone.
    private OperationStatus Deliver(ref ReadOnlySequence<byte> buffer, byte[] scratch)
    {
        var delivered = 0;
        try
        {
            while (true)
            {
                var span = buffer.FirstSpan;
                var end = 0;
                OperationStatus status;
                while ((status = FrameReader.TryReadFrame(span[end..], out var length)) == OperationStatus.Done)
                {
                    end += length;
                    delivered++;
                }

                if (end > 0)
                {
                    Hand(span[..end]);
                    buffer = buffer.Slice(end);
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
                delivered++;
                Hand(scratch.AsSpan(0, (int)frame.Length));
            }
        }
        finally
        {
            if (delivered > 0)
            {
                Interlocked.Add(ref _messagesReceived, delivered);
            }
        }
    }

    private void Hand(ReadOnlySpan<byte> messages)
    {
        try
        {
            _transport.Handler.OnMessages(NodeId, messages);
        }
#pragma warning disable CA1031 // a faulty handler must not kill the connection; the rest of the batch is dropped and logged
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
        using (SyncRoot.EnterScope())
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
