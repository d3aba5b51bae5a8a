using System.Net;
using System.Net.Sockets;

namespace Dlm.Messaging.Tests;

/// <summary>
/// A TCP proxy for fault injection (in the spirit of NATS.Net's NatsProxy). It listens on
/// <c>listen:port</c> and forwards each connection to <c>target:targetPort</c> from a socket bound
/// to the <em>client's own source IP</em> (port 0), so the target still identifies the peer by IP
/// (spec §3.2). <see cref="ResetAll"/> kills every proxied pair with RST; <see cref="Pause"/> stops
/// forwarding (bytes wait, connections stay open) until <see cref="Resume"/>. Half-closes are
/// passed through, so the DLM shutdown handshake (spec §3.6) works across the proxy.
/// </summary>
internal sealed class LoopbackProxy : IAsyncDisposable
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
    private readonly Socket _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly HashSet<Pair> _pairs = [];
    private readonly List<Task> _tasks = [];
    private readonly Task _acceptLoop;
    private TaskCompletionSource _running = Completed();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _accepted, _resets;
    private bool _disposed;

    public LoopbackProxy(IPAddress listen, int port, IPAddress target, int targetPort)
    {
        _target = new IPEndPoint(target, targetPort);
        _listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Bind(new IPEndPoint(listen, port));
            _listener.Listen(128);
        }
        catch
        {
            _listener.Dispose();
            throw;
        }

        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Where the proxy listens.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Proxied pairs currently open.</summary>
    public int ActiveConnections
    {
        get
        {
            lock (_lock)
            {
                return _pairs.Count;
            }
        }
    }

    /// <summary>Waits (woken by pair changes, no polling) until exactly <paramref name="count"/> pairs are open.</summary>
    public async Task WaitForConnectionsAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (_pairs.Count == count)
                {
                    return;
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"proxy {EndPoint} has {ActiveConnections} connections, expected {count}, after {timeout}");
            }
        }
    }

    /// <summary>Pairs ever established (client accepted and target connected).</summary>
    public long Accepted => Interlocked.Read(ref _accepted);

    /// <summary>Pairs killed by <see cref="ResetAll"/>.</summary>
    public long Resets => Interlocked.Read(ref _resets);

    /// <summary>Aborts every proxied pair: both sockets are closed with RST (SO_LINGER 0).</summary>
    public void ResetAll()
    {
        Pair[] pairs;
        lock (_lock)
        {
            pairs = [.. _pairs];
            _pairs.Clear();
            ChangedLocked();
        }

        foreach (var pair in pairs)
        {
            pair.Abort();
        }

        Interlocked.Add(ref _resets, pairs.Length);
    }

    /// <summary>Stops forwarding in both directions; connections stay open and bytes wait (TCP back-pressure).</summary>
    public void Pause()
    {
        lock (_lock)
        {
            if (_running.Task.IsCompleted)
            {
                _running = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    /// <summary>Forwards again, starting with the bytes held while paused.</summary>
    public void Resume()
    {
        lock (_lock)
        {
            _running.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        await _stop.CancelAsync();
        _listener.Dispose();
        Resume();
        ResetAll();
        Task[] tasks;
        lock (_lock)
        {
            tasks = [_acceptLoop, .. _tasks];
        }

        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stop.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            Track(ConnectAsync(client));
        }
    }

    // The outbound socket is bound to the client's address, so the target sees the same peer IP.
    private async Task ConnectAsync(Socket client)
    {
        var source = ((IPEndPoint)client.RemoteEndPoint!).Address;
        var upstream = new Socket(_target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            client.NoDelay = true;
            upstream.NoDelay = true;
            upstream.Bind(new IPEndPoint(source, 0));
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(ConnectTimeout);
            await upstream.ConnectAsync(_target, timeout.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            Pair.AbortSocket(client); // the target refused: the client sees a reset, as if refused itself
            upstream.Dispose();
            return;
        }

        var pair = new Pair(client, upstream);
        lock (_lock)
        {
            if (_disposed)
            {
                pair.Abort();
                return;
            }

            _pairs.Add(pair);
            ChangedLocked();
        }

        Interlocked.Increment(ref _accepted);
        Track(PumpAsync(pair, client, upstream));
        Track(PumpAsync(pair, upstream, client));
    }

    private async Task PumpAsync(Pair pair, Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        var ct = _stop.Token;
        try
        {
            while (true)
            {
                await WhenRunningAsync(ct);
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, ct);
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send); // pass the half-close on
                    break;
                }

                await WhenRunningAsync(ct);
                for (var sent = 0; sent < n;)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None, ct);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // One side reset or the proxy is stopping: the other side gets a reset too.
            Forget(pair);
            pair.Abort();
            return;
        }

        if (pair.DirectionDone())
        {
            Forget(pair);
            pair.Close();
        }
    }

    private Task WhenRunningAsync(CancellationToken ct)
    {
        Task running;
        lock (_lock)
        {
            running = _running.Task;
        }

        return running.IsCompleted ? Task.CompletedTask : running.WaitAsync(ct);
    }

    private void Forget(Pair pair)
    {
        lock (_lock)
        {
            if (_pairs.Remove(pair))
            {
                ChangedLocked();
            }
        }
    }

    private void ChangedLocked()
    {
        _changed.TrySetResult();
        _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private void Track(Task task)
    {
        lock (_lock)
        {
            _tasks.RemoveAll(t => t.IsCompleted);
            _tasks.Add(task);
        }
    }

    private static TaskCompletionSource Completed()
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tcs.TrySetResult();
        return tcs;
    }

    private sealed class Pair(Socket client, Socket upstream)
    {
        private int _directionsDone;

        /// <summary>One direction saw EOF; true when both have (then the pair closes normally).</summary>
        public bool DirectionDone() => Interlocked.Increment(ref _directionsDone) == 2;

        public void Abort()
        {
            AbortSocket(client);
            AbortSocket(upstream);
        }

        public void Close()
        {
            client.Dispose();
            upstream.Dispose();
        }

        public static void AbortSocket(Socket socket)
        {
            try
            {
                socket.LingerState = new LingerOption(true, 0);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
            }

            socket.Dispose();
        }
    }
}
