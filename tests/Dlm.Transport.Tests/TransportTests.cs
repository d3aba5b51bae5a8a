using System.Net;
using System.Net.Sockets;
using Dlm.Protocol;

namespace Dlm.Transport.Tests;

/// <summary>
/// lowcomms (spec §3, §9.3) over real loopback sockets: every node listens on the cluster port
/// 21064 on its own 127.S.T.x address; "raw" peers are plain sockets bound to a configured (or
/// unconfigured) address, so the transport identifies them by IP as it would a kernel.
/// </summary>
public sealed partial class TransportTests
{
    private static readonly TimeSpan Timeout = TestNet.Timeout;

    // ---- AddressBook (spec §3.1, §3.2) ------------------------------------------------------------

    private static readonly IPAddress A1 = IPAddress.Parse("127.150.0.1");
    private static readonly IPAddress A2 = IPAddress.Parse("127.150.0.2");
    private static readonly IPAddress A3 = IPAddress.Parse("127.150.0.3");
    private static readonly IPAddress A4 = IPAddress.Parse("127.150.0.4");

    [Fact]
    public void AddressBook_DuplicateNode_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => new AddressBook(1, [new(1, [A1]), new(2, [A2]), new(2, [A3])]));
        Assert.Contains("Node 2", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddressBook_DuplicateAddress_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => new AddressBook(1, [new(1, [A1]), new(2, [A2]), new(3, [A3, A2])]));
        Assert.Contains(A2.ToString(), e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddressBook_SameAddressAsIPv4MappedIPv6_IsADuplicate()
    {
        Assert.Throws<ArgumentException>(() => new AddressBook(1, [new(1, [A1]), new(2, [A2]), new(3, [A2.MapToIPv6()])]));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void AddressBook_AddressCountOutside1To3_Throws(int count)
    {
        IPAddress[] addresses = [.. new[] { A2, A3, A4, IPAddress.Parse("127.150.0.5") }.Take(count)];
        var e = Assert.Throws<ArgumentException>(() => new AddressBook(1, [new(1, [A1]), new(2, addresses)]));
        Assert.Contains($"{count} addresses", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddressBook_LinkLocalPeerConnectingWithAScopeId_IsFound()
    {
        // A link-local peer configured as fe80::2 connects in as fe80::2%<interface> (spec §3.2: the address identifies it).
        var book = new AddressBook(1, [new(1, [IPAddress.Parse("fe80::1")]), new(2, [IPAddress.Parse("fe80::2")])]);

        Assert.True(book.TryGetNodeId(IPAddress.Parse("fe80::2%3"), out var nodeId));
        Assert.Equal(2, nodeId);
    }

    [Fact]
    public async Task Start_LocalNodeWithTwoAddresses_RefusedAsTcpCannotServeAMultiHomedNode()
    {
        var ip = TestNet.AllocateAddresses(3);
        var options = TestNet.Options(1, ip) with { Addresses = new AddressBook(1, [new(1, [ip[0], ip[2]]), new(2, [ip[1]])]) };
        await using var transport = new Transport(options, new RecordingHandler(1));

        var e = Assert.Throws<InvalidOperationException>(transport.Start);
        Assert.Contains("spec §3.1", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(nameof(TransportOptions.ReconnectInterval))]
    [InlineData(nameof(TransportOptions.ShutdownTimeout))]
    public void Options_TimeoutOverADay_Rejected(string setting)
    {
        // Beyond what a timer can wait (about 49 days) it would fail later, in the send loop or at shutdown.
        var options = TestNet.Options(1, TestNet.AllocateAddresses(2));
        options = setting == nameof(TransportOptions.ReconnectInterval)
            ? options with { ReconnectInterval = TimeSpan.MaxValue }
            : options with { ShutdownTimeout = TimeSpan.MaxValue };

        var e = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(setting, e.ParamName);
    }

    [Theory]
    [InlineData(nameof(TransportOptions.ReceiveBufferSize), 4095)]
    [InlineData(nameof(TransportOptions.ReceiveBufferSize), (16 * 1024 * 1024) + 1)]
    [InlineData(nameof(TransportOptions.SendBufferSize), 4095)]
    [InlineData(nameof(TransportOptions.SendBufferSize), int.MaxValue)]
    public void Options_BufferSizeOutside4KiBTo16MiB_Rejected(string setting, int size)
    {
        // Every connection allocates buffers of these sizes: a huge one would fail in the receive thread or send loop.
        var options = TestNet.Options(1, TestNet.AllocateAddresses(2));
        options = setting == nameof(TransportOptions.ReceiveBufferSize)
            ? options with { ReceiveBufferSize = size }
            : options with { SendBufferSize = size };

        var e = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(setting, e.ParamName);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1001)]
    public void Options_ReceiveSpinTimeOutside0To1Ms_Rejected(int microseconds)
    {
        var options = TestNet.Options(1, TestNet.AllocateAddresses(2)) with { ReceiveSpinTime = TimeSpan.FromMicroseconds(microseconds) };

        var e = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal(nameof(TransportOptions.ReceiveSpinTime), e.ParamName);
    }

    [Theory]
    [InlineData(15)]
    [InlineData(4097)]
    public async Task ReserveLocked_LengthOutside16To4096_RejectedAndNothingQueued(int length)
    {
        await using var transport = new Transport(TestNet.Options(1, TestNet.AllocateAddresses(2)), new RecordingHandler(1));
        var peer = transport.GetPeer(2);

        using (peer.SyncRoot.EnterScope())
        {
            Assert.Throws<ArgumentOutOfRangeException>(() => peer.ReserveLocked(length, retained: true, 0));
            Assert.Equal(0, peer.QueuedLocked);
        }
    }

    [Fact]
    public async Task Dispose_Twice_TheSecondDoesNothing()
    {
        var ip = TestNet.AllocateAddresses(2);
        var transport = TestNet.Start(TestNet.Options(1, ip), new RecordingHandler(1));
        transport.GetPeer(2).Connect();

        await transport.DisposeAsync();
        await transport.DisposeAsync();
    }

    [Fact]
    public void AddressBook_ThreeAddresses_AllIdentifyTheNode()
    {
        var book = new AddressBook(1, [new(1, [A1]), new(2, [A2, A3, A4])]);

        foreach (var address in new[] { A2, A3, A4 })
        {
            Assert.True(book.TryGetNodeId(address, out var node));
            Assert.Equal(2, node);
        }
    }

    [Fact]
    public void AddressBook_LocalNodeMissing_Throws()
    {
        var e = Assert.Throws<ArgumentException>(() => new AddressBook(3, [new(1, [A1]), new(2, [A2])]));
        Assert.Contains("local node 3", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(int.MinValue)]
    public void AddressBook_NodeIdNotPositive_Throws(int nodeId)
    {
        var e = Assert.Throws<ArgumentException>(() => new AddressBook(1, [new(1, [A1]), new(nodeId, [A2])]));
        Assert.Contains($"Node id {nodeId}", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddressBook_InboundLookup_IgnoresPortAndMapsIPv4MappedIPv6()
    {
        var book = new AddressBook(1, [new(1, [A1]), new(2, [A2]), new(3, [A3.MapToIPv6()])]);

        // Two connections from node 2 with different source ports are both node 2 (spec §3.2).
        foreach (var endPoint in new[] { new IPEndPoint(A2, 40000), new IPEndPoint(A2, 51234), new IPEndPoint(A2.MapToIPv6(), 40001) })
        {
            Assert.True(book.TryGetNodeId(endPoint.Address, out var node), $"{endPoint} should be node 2");
            Assert.Equal(2, node);
        }

        // A book written with the mapped form still knows the plain IPv4 peer.
        Assert.True(book.TryGetNodeId(A3, out var third));
        Assert.Equal(3, third);
        Assert.False(book.TryGetNodeId(A4, out _));
        Assert.False(book.TryGetNodeId(A4.MapToIPv6(), out _));
        Assert.Equal(1, book.LocalNodeId);
        Assert.Equal([2, 3], book.Peers.Select(p => p.NodeId).Order());
    }

    // ---- accept (spec §3.2) -----------------------------------------------------------------------

    [Fact]
    public async Task Accept_UnknownAddress_ClosedAtOnceAndCountedAndPeerStillWorks()
    {
        var ip = TestNet.AllocateAddresses(3); // node 1, node 2; ip[2] is not in the book
        var handler = new RecordingHandler(1);
        await using var transport = TestNet.Start(TestNet.Options(1, ip[..2]), handler);

        using (var stranger = await TestNet.ConnectRawAsync(ip[2], ip[0]))
        {
            await TestNet.ExpectClosedAsync(stranger, $"node 1 and a connection from unconfigured {ip[2]}");
        }

        Assert.Equal(1, transport.RejectedConnections);

        using var peer = await TestNet.ConnectRawAsync(ip[1], ip[0]);
        await handler.WaitForConnectsAsync(2, 1, Timeout);
        await peer.SendAsync(TestNet.Frame(2, 7, 100));
        await handler.WaitForMessagesAsync(2, 1, Timeout);
        Assert.Equal(7u, TestNet.CounterOf(handler.MessagesFrom(2)[0]));
        Assert.Equal(1, transport.RejectedConnections);
    }

    [Fact]
    public async Task Accept_WhileStoppingAndAfterShutdown_Refused()
    {
        var ip = TestNet.AllocateAddresses(2);
        var handler = new RecordingHandler(1);
        await using var transport = TestNet.Start(TestNet.Options(1, ip) with { ShutdownTimeout = TimeSpan.FromSeconds(2) }, handler);

        // Node 2 (raw) is connected and never closes its side, so shutdown stays in its half-close wait.
        using var stubborn = await TestNet.ConnectRawAsync(ip[1], ip[0]);
        await handler.WaitForConnectsAsync(2, 1, Timeout);

        var shutdown = transport.ShutdownAsync();
        Assert.False(shutdown.IsCompleted, "node 1's shutdown should wait for node 2 to close its side");
        await TestNet.ExpectRefusedOrClosedAsync(ip[1], ip[0], "node 1 (stopping) and a new connection from node 2");
        Assert.False(shutdown.IsCompleted, "node 1's shutdown should still be waiting for node 2");

        await shutdown.WaitAsync(Timeout);
        await TestNet.ExpectRefusedOrClosedAsync(ip[1], ip[0], "node 1 (shut down) and a new connection from node 2");
        Assert.Empty(handler.MessagesFrom(2));
    }

    // ---- framing (spec §3.5) ----------------------------------------------------------------------

    [Fact]
    public async Task Receive_HLength4097_ClosesConnectionCountsFramingErrorAndPeerCanReconnect()
    {
        var ip = TestNet.AllocateAddresses(2);
        var handler = new RecordingHandler(1);
        await using var transport = TestNet.Start(TestNet.Options(1, ip), handler);

        using (var bad = await TestNet.ConnectRawAsync(ip[1], ip[0]))
        {
            await bad.SendAsync(TestNet.Frame(2, 0, 64));
            var header = new byte[WireLimits.HeaderSize];
            new DlmHeader(ProtocolVersion.V32, 1, 2, 0, DlmCommand.Message).Write(header);
            header[12] = 0x01; // h_length = 4097 (0x1001), little-endian
            header[13] = 0x10;
            await bad.SendAsync(header);
            await TestNet.ExpectClosedAsync(bad, "node 1 after h_length 4097 from node 2");
        }

        var stats = transport.GetPeer(2).GetStatistics();
        Assert.Equal(1, stats.FramingErrors);
        Assert.Equal(1, stats.Disconnects);
        Assert.False(stats.Connected, "node 1 should have no connection to node 2 after the framing error");
        Assert.Single(handler.MessagesFrom(2)); // the valid message before the bad header

        using var good = await TestNet.ConnectRawAsync(ip[1], ip[0]);
        for (uint i = 1; i <= 3; i++)
        {
            await good.SendAsync(TestNet.Frame(2, i, 16 + (int)i));
        }

        await handler.WaitForMessagesAsync(2, 4, Timeout);
        Assert.Equal([0u, 1u, 2u, 3u], handler.MessagesFrom(2).Select(TestNet.CounterOf));
        Assert.Equal(1, transport.GetPeer(2).GetStatistics().FramingErrors);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    public async Task Receive_HLengthBelowHeader_IsAFramingError(int length)
    {
        var ip = TestNet.AllocateAddresses(2);
        var handler = new RecordingHandler(1);
        await using var transport = TestNet.Start(TestNet.Options(1, ip), handler);

        using var bad = await TestNet.ConnectRawAsync(ip[1], ip[0]);
        var header = new byte[WireLimits.HeaderSize];
        new DlmHeader(ProtocolVersion.V32, 1, 2, (ushort)length, DlmCommand.Message).Write(header);
        await bad.SendAsync(header);
        await TestNet.ExpectClosedAsync(bad, $"node 1 after h_length {length} from node 2");
        Assert.Equal(1, transport.GetPeer(2).GetStatistics().FramingErrors);
        Assert.Empty(handler.MessagesFrom(2));
    }

    [Fact]
    public async Task Receive_ArbitraryWriteBoundaries_MessagesDeliveredWholeAndInOrder()
    {
        var ip = TestNet.AllocateAddresses(2);
        var handler = new RecordingHandler(1);
        await using var transport = TestNet.Start(TestNet.Options(1, ip), handler);
        using var peer = await TestNet.ConnectRawAsync(ip[1], ip[0]);
        await handler.WaitForConnectsAsync(2, 1, Timeout);

        var random = new Random(4097);
        int[] byteWise = [16, 17, 88, 112, 1000, 4096];
        var frames = byteWise.Concat(Enumerable.Range(0, 60).Select(_ => random.Next(16, 4097)))
            .Select((length, i) => TestNet.Frame(2, (uint)i, length)).ToList();

        // One byte per write for the first frames (header split at every offset), then random chunks.
        await TestNet.SendChunkedAsync(peer, [.. frames.Take(byteWise.Length).SelectMany(f => f)], () => 1);
        await TestNet.SendChunkedAsync(peer, [.. frames.Skip(byteWise.Length).SelectMany(f => f)], () => random.Next(1, 9000));

        await handler.WaitForMessagesAsync(2, frames.Count, Timeout);
        var received = handler.MessagesFrom(2);
        Assert.Equal(frames.Count, received.Count);
        for (var i = 0; i < frames.Count; i++)
        {
            Assert.True(frames[i].AsSpan().SequenceEqual(received[i]), $"message {i} ({frames[i].Length} bytes) differs");
        }

        Assert.Equal(frames.Count, transport.GetPeer(2).GetStatistics().MessagesReceived);
        Assert.Equal(frames.Sum(f => (long)f.Length), transport.GetPeer(2).GetStatistics().BytesReceived);
    }
}
