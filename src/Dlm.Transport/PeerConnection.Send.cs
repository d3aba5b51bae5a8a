using System.Net;
using System.Net.Sockets;

namespace Dlm.Transport;

public sealed partial class PeerConnection
{
    // spec §3.3/§3.4: connect on demand, retry every ReconnectInterval (± jitter) forever, write
    // committed messages in order, coalesced; a send error closes the socket and reconnects at once.
    // How long the socket must have been quiet for a commit to write inline (see CommitLocked).
    private static readonly TimeSpan InlineQuietTime = TimeSpan.FromMicroseconds(5);

    private async Task SendLoopAsync(CancellationToken ct)
    {
        // A bug or an unexpected error must not leave the peer without a sender: log, wait, go on.
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await SendLoopOnceAsync(ct).ConfigureAwait(false);
                return;
            }
#pragma warning disable CA1031 // the loop is the peer's only sender; it restarts after anything unexpected
            catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
            {
                TransportLog.SendLoopFailed(_logger, e, NodeId);
                Socket? main;
                using (SyncRoot.EnterScope())
                {
                    main = _connecting ? null : _main;
                    _sending = false;
                    SignalLocked();
                }

                // What the loop had claimed may not have reached the socket: a new connection sends it again (spec §2.7).
                AbortSocket(main);

                if (_shutdownStarted.IsCancellationRequested)
                {
                    return; // shutting down: StopAsync closes what is left
                }

                await WaitBeforeReconnectAsync(ct).ConfigureAwait(false);
            }
        }
    }

    // The reconnect wait ends early when shutdown starts, so shutdown never waits for it (spec §3.6).
    private async Task WaitBeforeReconnectAsync(CancellationToken ct)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _shutdownStarted.Token);
        try
        {
            await Task.Delay(ReconnectDelay(), _options.TimeProvider, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
        }
    }

    private async Task SendLoopOnceAsync(CancellationToken ct)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(_options.SendBufferSize, pinned: true);
        var batch = new WriteQueue.Batch(); // the loop's own: an inline writer has another
        try
        {
            while (true)
            {
                await _signal.WaitAsync(ct).ConfigureAwait(false);
                Socket? socket;
                bool wanted, stopping;
                using (SyncRoot.EnterScope())
                {
                    _signalled = false;
                    Interlocked.MemoryBarrier(); // before HasAckToWrite looks for a post below: see PostAck
                    socket = _connecting ? null : _main;
                    stopping = _stopping;
                    wanted = !_stopping && (_queue.Count > 0 || HasAckToWrite || _connectRequested);
                    if (_connecting || _main is not null)
                    {
                        _connectRequested = false;
                    }
                }

                if (socket is null && stopping)
                {
                    HalfCloseAll();
                    return;
                }

                if (socket is null)
                {
                    if (!wanted)
                    {
                        continue;
                    }

                    socket = await ConnectAsync(ct).ConfigureAwait(false);
                    if (socket is null)
                    {
                        await WaitBeforeReconnectAsync(ct).ConfigureAwait(false);
                        using (SyncRoot.EnterScope())
                        {
                            SignalLocked();
                        }

                        continue;
                    }
                }

                await DrainAsync(socket, buffer, batch, ct).ConfigureAwait(false);
                if (stopping && IsIdle())
                {
                    HalfCloseAll(); // after the last queued byte, so nothing is cut off (spec §3.6)
                    return;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    private async Task DrainAsync(Socket socket, byte[] buffer, WriteQueue.Batch batch, CancellationToken ct)
    {
        while (true)
        {
            byte[] source;
            int offset, length, ackLength = 0;
            using (SyncRoot.EnterScope())
            {
                if (_main != socket || _sending)
                {
                    return; // an inline writer owns the socket; it signals when it is done
                }

                if (_remainderLength > 0)
                {
                    // The rest of a partial inline write goes first, so no message is ever split.
                    (source, offset, length) = (_inline!, _remainderOffset, _remainderLength);
                    _remainderLength = 0;
                }
                else
                {
                    ackLength = ClaimLocked(buffer, batch);
                    (source, offset, length) = (buffer, 0, ackLength + batch.Length);
                }

                if (length == 0)
                {
                    return;
                }

                _sending = true;
            }

            try
            {
                batch.CopyTo(buffer.AsSpan(ackLength)); // empty when sending a remainder
                for (var sent = 0; sent < length;)
                {
                    sent += await socket.SendAsync(source.AsMemory(offset + sent, length - sent), SocketFlags.None, ct).ConfigureAwait(false);
                }

                Interlocked.Add(ref _bytesSent, length);
                Interlocked.Increment(ref _writes);
                DlmMetrics.BytesSent.Add(length);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
            {
                // Whatever part of this write reached the peer is covered by retransmission (spec §3.4).
                // The finally below gives up the send side only after _main no longer names this socket.
                SocketClosed(socket, "send failed: " + e.Message);
                return;
            }
            finally
            {
                using (SyncRoot.EnterScope())
                {
                    _queue.Unpin(batch);
                    _sending = false;
                    _lastWriteEnd = _options.TimeProvider.GetTimestamp();
                }
            }
        }
    }

    /// <summary>
    /// Writes what is queued on the caller's thread with one non-blocking send (after
    /// <see cref="CommitLocked"/> returned true, outside the lock). A partial write leaves its
    /// remainder to the send loop, which sends it before anything else.
    /// </summary>
    public void WriteInline()
    {
        Socket? socket;
        byte[] buffer;
        int length, ackLength = 0;
        using (SyncRoot.EnterScope())
        {
            socket = _main;
            buffer = _inline ??= GC.AllocateUninitializedArray<byte>(_options.SendBufferSize, pinned: true);
            if (socket is not null && !_connecting)
            {
                ackLength = ClaimLocked(buffer, _inlineBatch);
            }

            length = ackLength + _inlineBatch.Length;
            if (length == 0)
            {
                _sending = false;
                SignalLocked();
                return;
            }
        }

        // Anything unexpected counts as a failed write: the socket is closed below, so what was claimed
        // goes again on the next connection (spec §2.7), and the send side is always given back.
        var (sent, error) = (0, SocketError.OperationAborted);
        try
        {
            _inlineBatch.CopyTo(buffer.AsSpan(ackLength));
            sent = socket!.Send(buffer, 0, length, SocketFlags.None, out error);
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            EndInlineWrite(socket!, length, sent, error);
        }
    }

    // After an inline write (or its failure): the send side and the claimed buffers are given back, a
    // partial write's remainder is kept for the send loop, a failed socket is closed.
    private void EndInlineWrite(Socket socket, int length, int sent, SocketError error)
    {
        var failed = error is not (SocketError.Success or SocketError.WouldBlock);
        if (sent > 0)
        {
            Interlocked.Add(ref _bytesSent, sent);
            Interlocked.Increment(ref _writes);
            DlmMetrics.BytesSent.Add(sent);
        }

        using (SyncRoot.EnterScope())
        {
            _queue.Unpin(_inlineBatch);
            _sending = false;
            _lastWriteEnd = _options.TimeProvider.GetTimestamp();
            if (!failed && sent < length && _main == socket)
            {
                (_remainderOffset, _remainderLength) = (sent, length - sent);
            }

            if (_remainderLength > 0 || HasAckToWrite || _queue.HasSendable || _stopping)
            {
                SignalLocked();
            }
        }

        if (failed)
        {
            SocketClosed(socket, "send failed: " + error);
        }
    }

    private bool IsIdle()
    {
        using (SyncRoot.EnterScope())
        {
            return !_sending && _remainderLength == 0 && !HasAckToWrite && !_queue.HasSendable;
        }
    }

    private async Task<Socket?> ConnectAsync(CancellationToken ct)
    {
        Socket socket;
        using (SyncRoot.EnterScope())
        {
            if (_main is not null || _stopping)
            {
                return _connecting ? null : _main;
            }

            _connecting = true;
        }

        var endPoint = RemoteEndPoint;
        try
        {
            socket = new Socket(Node.Addresses[0].AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        }
        catch (SocketException e)
        {
            using (SyncRoot.EnterScope())
            {
                _connecting = false;
                _connectFailures++;
                SignalIfAllClosedLocked();
            }

            TransportLog.ConnectFailed(_logger, NodeId, endPoint, _connectFailures, e.Message);
            return null;
        }

        int epoch;
        using (SyncRoot.EnterScope())
        {
            _main = socket; // an inbound connection arriving now becomes the othercon (spec §3.2)
            epoch = _epoch;
        }

        try
        {
            socket.NoDelay = true;
            SocketMarks.Apply(socket, Node.Mark != 0 ? Node.Mark : _options.ClusterMark);
            socket.Bind(new IPEndPoint(_transport.LocalAddress, 0));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5), _options.TimeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, timeout.Token);
            await socket.ConnectAsync(endPoint, linked.Token).ConfigureAwait(false);
            PrepareForUse(socket);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or IOException or PlatformNotSupportedException)
        {
            using (SyncRoot.EnterScope())
            {
                _connecting = false;
                if (_main == socket)
                {
                    _main = null;
                }

                _connectFailures++;
                SignalIfAllClosedLocked();
            }

            socket.Dispose();
            DlmMetrics.ConnectFailures.Add(1);
            TransportLog.ConnectFailed(_logger, NodeId, endPoint, _connectFailures, e.Message);
            ct.ThrowIfCancellationRequested();
            return null;
        }

        int retransmitted;
        using (SyncRoot.EnterScope())
        {
            _connecting = false;
            retransmitted = _main == socket ? Usable() : -1;
        }

        if (retransmitted < 0)
        {
            using (SyncRoot.EnterScope())
            {
                SignalIfAllClosedLocked();
            }

            socket.Dispose(); // closed or aborted while connecting
            return null;
        }

        TransportLog.Connected(_logger, NodeId, endPoint, retransmitted);
        StartReceiving(socket, epoch);
        _transport.Handler.OnConnected(NodeId, retransmitted);
        return socket;
    }

    // A new main connection: everything retained goes out again, from its first byte (spec §2.7).
    private int Usable()
    {
        _remainderLength = 0;
        _connects++;
        DlmMetrics.Connects.Add(1);
        return _queue.Rewind();
    }

    private TimeSpan ReconnectDelay()
    {
        double spread;
        lock (_random)
        {
            spread = (_random.NextDouble() * 2) - 1;
        }

        return _options.ReconnectInterval * (1 + (spread * _options.ReconnectJitter));
    }
}
