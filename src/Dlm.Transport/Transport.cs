using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Dlm.Transport;

/// <summary>
/// lowcomms (spec §3): a TCP listener on the local node's address and the cluster port, one
/// <see cref="PeerConnection"/> per configured peer, inbound connections mapped to nodes by IP.
/// </summary>
public sealed class Transport : IAsyncDisposable
{
    private readonly TransportOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<int, PeerConnection> _peers;
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private volatile bool _stopping;
    private long _rejected;
    private readonly Lock _lifecycle = new(); // guards the two tasks below
    private Task? _shutdown;
    private Task? _dispose;

    /// <summary>Creates the transport; nothing is opened until <see cref="Start"/>.</summary>
    public Transport(TransportOptions options, ITransportHandler handler)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        options.Validate();
        _options = options;
        Handler = handler;
        _logger = options.LoggerFactory.CreateLogger("Dlm.Transport");
        _peers = options.Addresses.Peers.ToDictionary(n => n.NodeId, n => new PeerConnection(this, n, options, _logger));
    }

    /// <summary>The local node id.</summary>
    public int LocalNodeId => _options.Addresses.LocalNodeId;

    /// <summary>The peers, one connection each.</summary>
    public IReadOnlyCollection<PeerConnection> Peers => _peers.Values;

    /// <summary>Inbound connections closed at once: unknown address, or arriving while stopping.</summary>
    public long RejectedConnections => Interlocked.Read(ref _rejected);

    /// <summary>The address we listen on and bind outgoing connections to (the local node's first).</summary>
    public IPAddress LocalAddress => _options.Addresses.Local.Addresses[0];

    internal ITransportHandler Handler { get; }

    /// <summary>Opens the listener (SO_REUSEADDR, backlog 128, spec §3.2) and starts every peer's send loop.</summary>
    /// <exception cref="InvalidOperationException">The local node has more than one address (spec §3.1).</exception>
    /// <exception cref="PlatformNotSupportedException">A socket mark is set on a platform without <c>SO_MARK</c> (spec §3.7).</exception>
    public void Start()
    {
        var local = _options.Addresses.Local;
        if (local.Addresses.Count > 1)
        {
            throw new InvalidOperationException(
                $"Node {local.NodeId} (this node) has {local.Addresses.Count} addresses; TCP cannot serve a multi-homed node, give it one (spec §3.1).");
        }

        // Checked here, not at each connect, where it would only count as a failed connect retried forever.
        // Our own entry's mark is never applied (the listener takes the cluster's).
        foreach (var mark in _options.Addresses.Peers.Select(n => n.Mark).Append(_options.ClusterMark).Where(m => m != 0).Distinct())
        {
            SocketMarks.Probe(mark); // the platform, and the process's right to set it
        }

        var endPoint = new IPEndPoint(LocalAddress, _options.Port);
        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            SocketMarks.Apply(listener, _options.ClusterMark);
            listener.Bind(endPoint);
            listener.Listen(_options.ListenBacklog);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        TransportLog.Listening(_logger, endPoint, LocalNodeId);
        foreach (var peer in _peers.Values)
        {
            peer.Start();
        }

        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The connection to <paramref name="nodeId"/>; throws for a node not in the address book.</summary>
    public PeerConnection GetPeer(int nodeId) => _peers.TryGetValue(nodeId, out var peer)
        ? peer
        : throw new ArgumentException($"Node {nodeId} is not a configured peer of node {LocalNodeId}; add it to the address book first.", nameof(nodeId));

    /// <summary>Looks up the connection to <paramref name="nodeId"/>.</summary>
    public bool TryGetPeer(int nodeId, out PeerConnection peer) => _peers.TryGetValue(nodeId, out peer!);

    /// <summary>
    /// Close by configuration (spec §3.6): the node left or was fenced. Its sockets and queued data
    /// are dropped; it stays in the table (closed) until the address book changes.
    /// </summary>
    public Task CloseNodeAsync(int nodeId) => GetPeer(nodeId).CloseAsync();

    /// <summary>
    /// Shutdown (spec §3.6): stop accepting, half-close every connection, wait up to
    /// <see cref="TransportOptions.ShutdownTimeout"/> for each peer's EOF (in parallel), then force-close.
    /// </summary>
    /// <remarks>Every call, concurrent or later, gets the one shutdown's task.</remarks>
    public Task ShutdownAsync()
    {
        lock (_lifecycle)
        {
            return _shutdown ??= ShutdownCoreAsync();
        }
    }

    private async Task ShutdownCoreAsync()
    {
        _stopping = true;
        _listener?.Dispose();
        await _stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_peers.Values.Select(p => p.ShutdownAsync(_options.ShutdownTimeout))).ConfigureAwait(false);
        await _acceptLoop.ConfigureAwait(false);
    }

    /// <summary>Shuts down (waiting for a shutdown already under way) and stops everything; every call gets the one disposal's task.</summary>
    public ValueTask DisposeAsync()
    {
        lock (_lifecycle)
        {
            return new(_dispose ??= DisposeCoreAsync());
        }
    }

    private async Task DisposeCoreAsync()
    {
        await Task.Yield(); // out of the lifecycle lock, which ShutdownAsync takes too
        await ShutdownAsync().ConfigureAwait(false);
        foreach (var peer in _peers.Values)
        {
            await peer.DisposeAsync().ConfigureAwait(false);
        }

        _stop.Dispose();
    }

    private static readonly TimeSpan AcceptRetryDelay = TimeSpan.FromMilliseconds(200);

    private async Task AcceptLoopAsync()
    {
        while (!_stopping)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stopping)
                {
                    return;
                }

                if (e is SocketException { SocketErrorCode: not (SocketError.ConnectionAborted or SocketError.ConnectionReset or SocketError.Interrupted) } failed)
                {
                    // Out of file handles or buffers, say: the connection stays in the backlog and accept would fail
                    // again at once. Wait, so the loop does not take a core until handles are free.
                    TransportLog.AcceptFailed(_logger, failed.SocketErrorCode, AcceptRetryDelay);
                    try
                    {
                        await Task.Delay(AcceptRetryDelay, _options.TimeProvider, _stop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                }

                continue;
            }

            Route(socket);
        }
    }

    // spec §3.2: the peer is identified by its IP, port ignored; an unknown address is closed at once.
    private void Route(Socket socket)
    {
        var address = ((IPEndPoint)socket.RemoteEndPoint!).Address;
        if (_stopping)
        {
            Reject(socket);
            TransportLog.RefusedStopping(_logger, address);
            return;
        }

        if (!_options.Addresses.TryGetNodeId(address, out var nodeId) || !_peers.TryGetValue(nodeId, out var peer))
        {
            Reject(socket);
            TransportLog.UnknownPeer(_logger, address);
            return;
        }

        try
        {
            peer.Adopt(socket);
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or PlatformNotSupportedException)
        {
            TransportLog.AdoptFailed(_logger, e, address); // e.g. SO_MARK refused: this socket only, the listener goes on
            socket.Dispose();
        }
    }

    private void Reject(Socket socket)
    {
        Interlocked.Increment(ref _rejected);
        DlmMetrics.Rejected.Add(1);
        socket.Dispose();
    }
}
