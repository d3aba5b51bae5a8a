using System.Net.Sockets;

namespace Dlm.Transport;

public sealed partial class PeerConnection
{
    private readonly TaskCompletionSource _allClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Task> _receiveLoops = [];
    private readonly CancellationTokenSource _shutdownStarted = new();

    /// <summary>
    /// Shutdown (spec §3.6): half-close every socket, wait up to <paramref name="timeout"/> for
    /// the peer to close its side (our EOF), then force-close and stop.
    /// </summary>
    internal async Task ShutdownAsync(TimeSpan timeout)
    {
        using (SyncRoot.EnterScope())
        {
            _stopping = true;
            if (_connecting)
            {
                AbortSocket(_main);
            }

            if (_main is null && _other is null)
            {
                _allClosed.TrySetResult();
            }

            // The send loop writes what is still queued, then half-closes every socket.
            SignalLocked();
        }

        await _shutdownStarted.CancelAsync().ConfigureAwait(false);

        try
        {
            await _allClosed.Task.WaitAsync(timeout, _options.TimeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            TransportLog.ShutdownTimedOut(_logger, NodeId, timeout);
        }

        await StopAsync().ConfigureAwait(false);
    }

    private void HalfCloseAll()
    {
        Socket? main, other;
        using (SyncRoot.EnterScope())
        {
            (main, other) = (_main, _other);
        }

        HalfClose(main);
        HalfClose(other);
    }

    /// <summary>
    /// Close by configuration (spec §3.6 close): drop sockets and queued data at once. The
    /// connection stays usable: if the node is configured again (a new incarnation) it connects afresh.
    /// </summary>
    internal Task CloseAsync()
    {
        ClosedSockets closed;
        using (SyncRoot.EnterScope())
        {
            closed = CloseLocked();
        }

        return closed.AbortAsync();
    }

    /// <summary>
    /// The locked half of <see cref="CloseAsync"/>, for a caller that resets its own state in the same
    /// critical section (midcomms, spec §2.9 last row): drops what is queued and starts a new epoch, so
    /// reads from the current sockets are no longer handed over (<see cref="ReceivingFromClosedSocket"/>).
    /// The caller then aborts the sockets returned, outside the lock.
    /// </summary>
    internal ClosedSockets CloseLocked()
    {
        _queue.Clear();
        _ackPending = _ackKnown = false;
        Interlocked.Exchange(ref _postedAck, 0);
        _connectRequested = false;
        CheckCapacityLocked();
        Volatile.Write(ref _epoch, _epoch + 1);

        // The loops to wait for are those of the sockets aborted, taken now: the node may connect again at
        // once (it is still configured), and its new connection must not be waited for.
        lock (_receiveLoops)
        {
            return new ClosedSockets(_main, _other, [.. _receiveLoops]);
        }
    }

    /// <summary>The sockets a close by configuration ended, and their receive loops.</summary>
    internal readonly record struct ClosedSockets(Socket? Main, Socket? Other, Task[] Loops)
    {
        /// <summary>Aborts the sockets and completes when their receive loops have ended.</summary>
        public Task AbortAsync()
        {
            AbortSocket(Main);
            AbortSocket(Other);
            return Task.WhenAll(Loops);
        }
    }

    /// <summary>Stops the loops and closes the sockets without the shutdown handshake; every call gets the one disposal's task.</summary>
    public ValueTask DisposeAsync()
    {
        Task dispose;
        using (SyncRoot.EnterScope())
        {
            _stopping = true;
            dispose = _dispose ??= DisposeCoreAsync();
        }

        return new(dispose);
    }

    private async Task DisposeCoreAsync()
    {
        await Task.Yield(); // out of the caller's lock

        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
        _shutdownStarted.Dispose();
        _signal.Dispose();
    }

    // Stops every loop and waits for them, so no handler call and no socket outlives the stop.
    private async Task StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        Abort();
        try
        {
            await _sendLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        Task[] loops;
        lock (_receiveLoops)
        {
            loops = [.. _receiveLoops];
        }

        await Task.WhenAll(loops).ConfigureAwait(false);
    }

    private void SignalIfAllClosedLocked()
    {
        if (_stopping && _main is null && _other is null)
        {
            _allClosed.TrySetResult();
        }
    }

    private static void HalfClose(Socket? socket)
    {
        try
        {
            socket?.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }
}
