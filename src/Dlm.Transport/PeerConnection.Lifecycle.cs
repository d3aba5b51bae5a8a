using System.Net.Sockets;

namespace Dlm.Transport;

public sealed partial class PeerConnection
{
    private readonly TaskCompletionSource _allClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Shutdown (spec §3.6): half-close every socket, wait up to <paramref name="timeout"/> for
    /// the peer to close its side (our EOF), then force-close and stop.
    /// </summary>
    internal async Task ShutdownAsync(TimeSpan timeout)
    {
        Socket? main, other;
        lock (SyncRoot)
        {
            _stopping = true;
            (main, other) = (_connecting ? null : _main, _other);
            if (_connecting)
            {
                AbortSocket(_main);
            }

            if (main is null && other is null && !_connecting)
            {
                _allClosed.TrySetResult();
            }
        }

        // Messaging ran the FIN handshake first (spec §2.9), so nothing of value is still queued.
        HalfClose(main);
        HalfClose(other);
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

    /// <summary>Close by configuration (spec §3.6 close): drop sockets and queued data at once.</summary>
    internal async Task CloseAsync()
    {
        lock (SyncRoot)
        {
            _stopping = true;
            _queue.Clear();
        }

        await StopAsync().ConfigureAwait(false);
    }

    /// <summary>Stops the loops and closes the sockets without the shutdown handshake.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (SyncRoot)
        {
            _stopping = true;
        }

        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
        _signal.Dispose();
    }

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
