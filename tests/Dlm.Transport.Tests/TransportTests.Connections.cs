using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Dlm.Protocol;

namespace Dlm.Transport.Tests;

public sealed partial class TransportTests
{
    // ---- connect (spec §3.3) ----------------------------------------------------------------------

    [Fact]
    public async Task Connect_BothSidesAtOnce_BothUsableAndMessagesFlowEachWay()
    {
        // Repeated on fresh addresses: the interleaving of the two connects and accepts varies.
        for (var round = 0; round < 8; round++)
        {
            var ip = TestNet.AllocateAddresses(2);
            var h1 = new RecordingHandler(1);
            var h2 = new RecordingHandler(2);
            var t1 = TestNet.Start(TestNet.Options(1, ip), h1);
            var t2 = TestNet.Start(TestNet.Options(2, ip), h2);
            try
            {
                using (var go = new Barrier(2))
                {
                    await Task.WhenAll(
                        Task.Run(() => { go.SignalAndWait(); t1.GetPeer(2).Connect(); }),
                        Task.Run(() => { go.SignalAndWait(); t2.GetPeer(1).Connect(); }));
                }

                await h1.WaitForConnectsAsync(2, 1, Timeout);
                await h2.WaitForConnectsAsync(1, 1, Timeout);
                Assert.True(t1.GetPeer(2).IsConnected, $"round {round}: node 1 has no usable main connection to node 2");
                Assert.True(t2.GetPeer(1).IsConnected, $"round {round}: node 2 has no usable main connection to node 1");

                for (uint i = 0; i < 50; i++)
                {
                    TestNet.Send(t1, 2, TestNet.Frame(1, i, 40 + (int)i));
                    TestNet.Send(t2, 1, TestNet.Frame(2, i, 40 + (int)i));
                }

                await h2.WaitForMessagesAsync(1, 50, Timeout);
                await h1.WaitForMessagesAsync(2, 50, Timeout);
                Assert.Equal(Enumerable.Range(0, 50).Select(i => (uint)i), h2.MessagesFrom(1).Select(TestNet.CounterOf));
                Assert.Equal(Enumerable.Range(0, 50).Select(i => (uint)i), h1.MessagesFrom(2).Select(TestNet.CounterOf));
            }
            finally
            {
                await Task.WhenAll(t1.DisposeAsync().AsTask(), t2.DisposeAsync().AsTask());
            }
        }
    }

    [Fact]
    public async Task Connect_PeerAlsoConnected_InboundIsOtherconAndStillRead()
    {
        var ip = TestNet.AllocateAddresses(2);
        var handler = new RecordingHandler(1);
        await using var transport = TestNet.Start(TestNet.Options(1, ip), handler);

        // Node 2 (raw) opens two connections: the first becomes node 1's main, the second its othercon.
        using var main = await TestNet.ConnectRawAsync(ip[1], ip[0]);
        await handler.WaitForConnectsAsync(2, 1, Timeout);
        using var other = await TestNet.ConnectRawAsync(ip[1], ip[0]);
        await other.SendAsync(TestNet.Frame(2, 0, 50));
        await handler.WaitForMessagesAsync(2, 1, Timeout);
        await main.SendAsync(TestNet.Frame(2, 1, 50));
        await handler.WaitForMessagesAsync(2, 2, Timeout);

        // Node 1 sends on its main connection only.
        TestNet.Send(transport, 2, TestNet.Frame(1, 9, 32));
        var buffer = new byte[32];
        var read = 0;
        using var cts = new CancellationTokenSource(Timeout);
        while (read < buffer.Length)
        {
            read += await main.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cts.Token);
        }

        Assert.Equal(9u, TestNet.CounterOf(buffer));
        Assert.Equal(0, other.Available);
        Assert.Single(handler.ConnectsOf(2));
    }

    // ---- shutdown (spec §3.6, §9.3) ---------------------------------------------------------------

    // A shutdown timeout no test waits for: a shutdown that returns within TestNet.Timeout was ended by
    // the peer's EOF (or an abort), not by the timeout, however loaded the test host is.
    private static readonly TimeSpan NeverInThisTest = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task Shutdown_BothSidesAtOnce_HalfCloseAndFinishQuickly()
    {
        var ip = TestNet.AllocateAddresses(2);
        var h1 = new RecordingHandler(1);
        var h2 = new RecordingHandler(2);
        await using var t1 = TestNet.Start(TestNet.Options(1, ip) with { ShutdownTimeout = NeverInThisTest }, h1);
        await using var t2 = TestNet.Start(TestNet.Options(2, ip) with { ShutdownTimeout = NeverInThisTest }, h2);
        for (uint i = 0; i < 100; i++)
        {
            TestNet.Send(t1, 2, TestNet.Frame(1, i, 100));
            TestNet.Send(t2, 1, TestNet.Frame(2, i, 100));
        }

        await h2.WaitForMessagesAsync(1, 100, Timeout);
        await h1.WaitForMessagesAsync(2, 100, Timeout);

        // Finishing within the test's timeout (not the shutdown timeout) proves each side's EOF ended the other's wait.
        await Task.WhenAll(t1.ShutdownAsync(), t2.ShutdownAsync()).WaitAsync(Timeout);
        Assert.False(t1.GetPeer(2).IsConnected);
        Assert.False(t2.GetPeer(1).IsConnected);
    }

    [Fact]
    public async Task Shutdown_OneSide_PeerClosesOnEofAndShutdownFinishesQuickly()
    {
        await using var nodes = await TwoNodes.StartAsync(o => o with { ShutdownTimeout = NeverInThisTest });
        var (t1, _, _, h2) = nodes;
        TestNet.Send(t1, 2, TestNet.Frame(1, 0, 100));
        await h2.WaitForMessagesAsync(1, 1, Timeout);

        // The last message queued before shutdown still goes out before the half-close (spec §3.6).
        TestNet.Send(t1, 2, TestNet.Frame(1, 1, 4096));
        await t1.ShutdownAsync().WaitAsync(Timeout); // within the test's timeout: node 2 closed on EOF (spec §9.3)
        await h2.WaitForMessagesAsync(1, 2, Timeout);
        Assert.Equal(4096, h2.MessagesFrom(1)[1].Length);
    }

    [Fact]
    public async Task Shutdown_PeerNeverClosesAndStopsReading_FinishesAfterShutdownTimeout()
    {
        var ip = TestNet.AllocateAddresses(2);
        var handler = new RecordingHandler(1);
        await using var transport = TestNet.Start(TestNet.Options(1, ip), handler); // ShutdownTimeout 1 s
        using var stubborn = await TestNet.ConnectRawAsync(ip[1], ip[0]);
        await handler.WaitForConnectsAsync(2, 1, Timeout);

        // 16 MiB that node 2 never reads: node 1's send is stuck on a full window when shutdown starts.
        for (uint i = 0; i < 4096; i++)
        {
            TestNet.Send(transport, 2, TestNet.Frame(1, i, 4096));
        }

        var stopwatch = Stopwatch.StartNew();
        await transport.ShutdownAsync().WaitAsync(Timeout);
        var elapsed = stopwatch.Elapsed;
        Assert.True(elapsed >= TimeSpan.FromSeconds(0.9), $"node 1's shutdown took {elapsed}, less than its 1 s timeout, yet node 2 never closed");
        Assert.True(elapsed < TimeSpan.FromSeconds(8), $"node 1's shutdown took {elapsed} with a 1 s timeout"); // room for a loaded host
        await TestNet.ExpectClosedAsync(stubborn, "node 1 after its shutdown timeout");
    }

    [Fact]
    public async Task Shutdown_AfterTimeout_NoConnectionLeftWhenShutdownReturns()
    {
        var ip = TestNet.AllocateAddresses(2);
        var handler = new RecordingHandler(1);
        await using var transport = TestNet.Start(TestNet.Options(1, ip), handler); // ShutdownTimeout 1 s
        using var stubborn = await TestNet.ConnectRawAsync(ip[1], ip[0]);
        await handler.WaitForConnectsAsync(2, 1, Timeout);

        await transport.ShutdownAsync().WaitAsync(Timeout);
        var stats = transport.GetPeer(2).GetStatistics();
        Assert.False(stats.Connected, "node 1 still reports a connection to node 2 after ShutdownAsync returned");
        Assert.Equal(1, stats.Disconnects);
    }

    [Fact]
    public async Task Shutdown_WhileConnectIsPending_FinishesQuickly()
    {
        var ip = TestNet.AllocateAddresses(3);
        var handler = new RecordingHandler(1);
        await using var transport = TestNet.Start(TestNet.Options(1, ip[..2]) with { ShutdownTimeout = NeverInThisTest }, handler);

        // Node 2's "listener" never accepts and its accept queue (backlog 0: one connection) is
        // full, so node 1's SYNs are dropped and its connect stays pending until shutdown aborts it.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(ip[1], TestNet.Port));
        listener.Listen(0);
        using var filler = await TestNet.ConnectRawAsync(ip[2], ip[1]);

        transport.GetPeer(2).Connect();
        Assert.Contains("SYN-SENT", await SocketTableAsync(ip[0]), StringComparison.Ordinal);

        await transport.ShutdownAsync().WaitAsync(Timeout); // within the test's timeout: the pending connect was aborted
    }

    // spec §3.3: a connect that fails is tried again after the reconnect interval (50 ms here), for as
    // long as something waits to be sent; the test waits for the failure's log event, not for time.
    [Fact]
    public async Task Connect_PeerNotListeningYet_TriedAgainUntilItListens()
    {
        var ip = TestNet.AllocateAddresses(2);
        var failed = new EventSignal(1004); // TransportLog.ConnectFailed
        await using var t1 = TestNet.Start(TestNet.Options(1, ip) with { LoggerFactory = failed }, new RecordingHandler(1));
        TestNet.Send(t1, 2, TestNet.Frame(1, 7, 64), retained: true, sequence: 0);
        await failed.Raised.WaitAsync(Timeout);

        var h2 = new RecordingHandler(2);
        await using var t2 = TestNet.Start(TestNet.Options(2, ip), h2);
        await h2.WaitForMessagesAsync(1, 1, Timeout);

        Assert.Equal([7u], h2.MessagesFrom(1).Select(TestNet.CounterOf));
        var stats = t1.GetPeer(2).GetStatistics();
        Assert.True(stats.ConnectFailures >= 1, $"{stats.ConnectFailures} connect failures");
        Assert.True(stats.Connects >= 1);
    }

    // A logger factory whose loggers complete Raised at the first event with the given id.
    private sealed class EventSignal(int eventId) : Microsoft.Extensions.Logging.ILoggerFactory, Microsoft.Extensions.Logging.ILogger
    {
        private readonly TaskCompletionSource _raised = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Raised => _raised.Task;

        public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
        {
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId id, TState state,
            Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (id.Id == eventId)
            {
                _raised.TrySetResult();
            }
        }

        public void Dispose()
        {
        }
    }

    // ---- fault injection and retransmission (spec §2.7, §3.3) -------------------------------------

    [Fact]
    public async Task Abort_ConnectedPeer_ReconnectsAndResendsRetainedMessages()
    {
        await using var nodes = await TwoNodes.StartAsync();
        var (t1, h1, _, h2) = nodes;

        for (uint seq = 0; seq < 10; seq++)
        {
            TestNet.Send(t1, 2, TestNet.Frame(1, seq, 200), retained: true, sequence: seq);
        }

        TestNet.Send(t1, 2, TestNet.Frame(1, 100, 16)); // a plain one (an ACK, say): sent once, never again
        await h2.WaitForMessagesAsync(1, 11, Timeout);
        Assert.Equal([0], h1.ConnectsOf(2));

        var peer = t1.GetPeer(2);
        using (peer.SyncRoot.EnterScope())
        {
            Assert.Equal(4, peer.ReleaseLocked(4)); // the peer acknowledged 0..3
        }

        Assert.Equal(6 * 200, peer.GetStatistics().RetainedBytes);
        peer.Abort();

        await h1.WaitForConnectsAsync(2, 2, Timeout);
        Assert.Equal([0, 6], h1.ConnectsOf(2));
        await h2.WaitForMessagesAsync(1, 17, Timeout);
        Assert.Equal([.. Enumerable.Range(0, 10).Select(i => (uint)i), 100u, 4u, 5u, 6u, 7u, 8u, 9u],
            h2.MessagesFrom(1).Select(TestNet.CounterOf));
        var stats = peer.GetStatistics();
        Assert.Equal(2, stats.Connects);
        Assert.True(stats.Disconnects >= 1, $"node 1 counted {stats.Disconnects} disconnects from node 2 after Abort");
        Assert.Equal(6 * 200, stats.RetainedBytes);
    }

    // What node 1's receive threads read after its connection to node 2 was closed by configuration
    // (CloseLocked) is marked as from a closed socket until the socket is gone, so midcomms can drop it
    // under the lock of its reset; a new connection's reads are not marked.
    [Fact]
    public async Task CloseLocked_ReadsFromTheSocketsItClosed_MarkedUntilANewConnection()
    {
        var ip = TestNet.AllocateAddresses(2);
        var probe = new ClosedSocketProbe();
        await using var t1 = TestNet.Start(TestNet.Options(1, ip), probe);
        probe.Peer = t1.GetPeer(2);
        await using var t2 = TestNet.Start(TestNet.Options(2, ip), new RecordingHandler(2));

        TestNet.Send(t2, 1, TestNet.Frame(2, 0, 64));
        await probe.Messages.WaitForMessagesAsync(2, 1, Timeout);
        PeerConnection.ClosedSockets closed;
        using (probe.Peer.SyncRoot.EnterScope())
        {
            closed = probe.Peer.CloseLocked(); // the sockets stay open until aborted below
        }

        TestNet.Send(t2, 1, TestNet.Frame(2, 1, 64));
        await probe.Messages.WaitForMessagesAsync(2, 2, Timeout);
        await closed.AbortAsync().WaitAsync(Timeout);
        TestNet.Send(t2, 1, TestNet.Frame(2, 2, 64), retained: true, sequence: 0); // retained: sent again if it met the dead socket
        await probe.Messages.WaitForMessagesAsync(2, 3, Timeout);

        Assert.Equal([(0u, false), (1u, true), (2u, false)], probe.Seen);
    }

    [Fact]
    public async Task PostAck_WithoutTheLock_WakesTheSenderAndTheNewestAckGoes()
    {
        await using var nodes = await TwoNodes.StartAsync();
        var (t1, _, _, h2) = nodes;
        var peer = t1.GetPeer(2);

        peer.PostAck(3); // nothing else queued and no connection yet: the post alone must get it written
        await h2.WaitForMessagesAsync(1, 1, Timeout);

        using (peer.SyncRoot.EnterScope()) // no write can come between the two
        {
            peer.PostAck(9);
            peer.SetAckLocked(5); // older than the posted one, which goes instead (spec §1.9: cumulative)
        }

        await h2.WaitForMessagesAsync(1, 2, Timeout);
        using (peer.SyncRoot.EnterScope())
        {
            peer.SetAckLocked(12);
            peer.PostAck(10); // older than the pending one, which goes instead
        }

        await h2.WaitForMessagesAsync(1, 3, Timeout);
        using (peer.SyncRoot.EnterScope())
        {
            peer.SetAckLocked(10_000);
            peer.DropRetainedLocked(); // a midcomms reset: the sequence space that ACK belongs to ends
            peer.PostAck(257);         // of the new space, though smaller: it goes
        }

        await h2.WaitForMessagesAsync(1, 4, Timeout);
        Assert.Equal([3u, 9u, 12u, 257u], h2.MessagesFrom(1).Select(m => DlmHeader.Read(m).Sequence));
        Assert.All(h2.MessagesFrom(1), m => Assert.Equal(DlmCommand.Ack, DlmHeader.Read(m).Command));
    }

    // ---- SO_MARK (spec §3.2, §3.7) ----------------------------------------------------------------

    [Fact]
    public async Task ClusterMark_NonZeroAsRoot_ListenerAcceptsAndPeersTalk()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            return; // SO_MARK needs CAP_NET_ADMIN; this machine runs the tests as root
        }

        var ip = TestNet.AllocateAddresses(3);
        var h1 = new RecordingHandler(1);
        var h2 = new RecordingHandler(2);
        var o1 = TestNet.Options(1, ip[..2]) with { ClusterMark = 0x2A };
        var o2 = TestNet.Options(2, ip[..2]) with { Addresses = TestNet.Book(2, ip[..2], markOfNode1: 0x77), ClusterMark = 0x2B };
        await using var t1 = TestNet.Start(o1, h1);
        await using var t2 = TestNet.Start(o2, h2);

        Assert.Contains("fwmark:0x2a", await SocketTableAsync(ip[0]), StringComparison.Ordinal);

        TestNet.Send(t2, 1, TestNet.Frame(2, 1, 64)); // node 2 connects with node 1's own mark, 0x77
        TestNet.Send(t1, 2, TestNet.Frame(1, 2, 64));
        await h1.WaitForMessagesAsync(2, 1, Timeout);
        await h2.WaitForMessagesAsync(1, 1, Timeout);
        Assert.Contains("fwmark:0x77", await SocketTableAsync(ip[1]), StringComparison.Ordinal);

        using var stranger = await TestNet.ConnectRawAsync(ip[2], ip[0]);
        await TestNet.ExpectClosedAsync(stranger, $"node 1 (mark 0x2a) and unconfigured {ip[2]}");
        Assert.Equal(1, t1.RejectedConnections);
    }

    // `ss -e` shows each socket's fwmark; only sockets bound to `address` are listed.
    private static async Task<string> SocketTableAsync(IPAddress address)
    {
        var info = new ProcessStartInfo("ss", $"-tanHe src {address}") { RedirectStandardOutput = true, UseShellExecute = false };
        using var process = Process.Start(info) ?? throw new InvalidOperationException("could not run ss");
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Timeout);
        return output;
    }

    // Records, per message, whether the receive thread that handed it over read it from a closed socket.
    private sealed class ClosedSocketProbe : ITransportHandler
    {
        private readonly Lock _lock = new();
        private readonly List<(uint, bool)> _seen = [];

        public PeerConnection? Peer { get; set; }

        public RecordingHandler Messages { get; } = new(1);

        public IReadOnlyList<(uint, bool)> Seen
        {
            get
            {
                lock (_lock)
                {
                    return [.. _seen];
                }
            }
        }

        public void OnMessages(int nodeId, ReadOnlySpan<byte> messages)
        {
            var closed = Peer!.ReceivingFromClosedSocket;
            lock (_lock)
            {
                for (var rest = messages; !rest.IsEmpty;)
                {
                    _seen.Add((DlmHeader.Read(FrameReader.Next(ref rest)).LockspaceOrSeq, closed));
                }
            }

            Messages.OnMessages(nodeId, messages);
        }

        public void OnConnected(int nodeId, int retransmitted) => Messages.OnConnected(nodeId, retransmitted);
    }
}
