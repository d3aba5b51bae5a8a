using System.Net;
using System.Net.Sockets;
using Dlm.Messaging;
using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm.Messaging.Tests;

/// <summary>
/// Two messaging nodes talking through <see cref="LoopbackProxy"/> pairs, one proxy per direction,
/// so connections can be reset or stalled from outside while midcomms (spec §2.5–§2.7) keeps
/// delivery exactly-once and in order.
/// </summary>
public sealed class ProxyTests
{
    private const int Port = WireLimits.DefaultPort;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Proxy_ForwardsFromTheClientsOwnAddressAndPausesResumesResets()
    {
        var ip = TestCluster.AllocateAddresses(3); // client, target, proxy
        using var target = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        target.Bind(new IPEndPoint(ip[1], Port));
        target.Listen(8);
        await using var proxy = new LoopbackProxy(ip[2], Port, ip[1], Port);

        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Bind(new IPEndPoint(ip[0], 0));
        await client.ConnectAsync(proxy.EndPoint);
        using var accepted = await target.AcceptAsync().WaitAsync(Timeout);
        Assert.Equal(ip[0], ((IPEndPoint)accepted.RemoteEndPoint!).Address);
        await proxy.WaitForConnectionsAsync(1, Timeout);

        proxy.Pause();
        await client.SendAsync("held"u8.ToArray());
        proxy.Resume();
        Assert.Equal("held", await ReceiveTextAsync(accepted, 4));
        Assert.Equal(1, proxy.ActiveConnections);

        await accepted.SendAsync("back"u8.ToArray());
        Assert.Equal("back", await ReceiveTextAsync(client, 4));

        proxy.ResetAll();
        Assert.Equal(0, proxy.ActiveConnections);
        Assert.Equal(1, proxy.Resets);
        var e = await Assert.ThrowsAsync<SocketException>(async () =>
        {
            using var cts = new CancellationTokenSource(Timeout);
            await client.ReceiveAsync(new byte[1], SocketFlags.None, cts.Token);
        });
        Assert.Equal(SocketError.ConnectionReset, e.SocketErrorCode);
    }

    [Fact]
    public async Task Messages_ProxiesResetEvery50Ms_ExactlyOnceInOrderWithRetransmission()
    {
        const uint count = 20_000;
        const uint batch = 1_000;
        var ip = TestCluster.AllocateAddresses(4); // node 1, node 2, proxy to node 1, proxy to node 2
        await using var toNode1 = new LoopbackProxy(ip[2], Port, ip[0], Port);
        await using var toNode2 = new LoopbackProxy(ip[3], Port, ip[1], Port);
        // Each node connects to the other's proxy (first address) and recognises the other's real
        // address on inbound connections (second address): the proxies keep the client's source IP.
        var (node1, recorder1) = StartNode(1, [new(1, [ip[0]]), new(2, [ip[3], ip[1]])]);
        await using var n1 = node1;
        var (node2, recorder2) = StartNode(2, [new(1, [ip[2], ip[0]]), new(2, [ip[1]])]);
        await using var n2 = node2;

        node1.AddMember(2);
        node2.AddMember(1);
        TestCluster.SendStatus(node1, 2);
        TestCluster.SendStatus(node2, 1);
        // STATUS is stateless (never retransmitted): let the versions be detected before resets start.
        await recorder2.WaitForRcomAsync(1, RcomType.Status, Timeout);
        await recorder1.WaitForRcomAsync(2, RcomType.Status, Timeout);

        // Each producer sends a batch per reset tick, so every batch travels on a fresh connection
        // with the previous batch's unacknowledged tail retransmitted in front of it.
        using var gate1 = new SemaphoreSlim(0);
        using var gate2 = new SemaphoreSlim(0);
        var producers = Task.WhenAll(
            Task.Run(() => ProduceAsync(node1, 2, count, batch, gate1)),
            Task.Run(() => ProduceAsync(node2, 1, count, batch, gate2)));
        var delivered = Task.WhenAll(recorder2.WaitForAsync(1, count, Timeout), recorder1.WaitForAsync(2, count, Timeout));

        using (var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50)))
        {
            // Bounded: at most ~6 s of resets, stopping as soon as everything has arrived.
            for (var tick = 0; tick < 120 && !delivered.IsCompleted; tick++)
            {
                await timer.WaitForNextTickAsync();
                toNode1.ResetAll();
                toNode2.ResetAll();
                gate1.Release();
                gate2.Release();
            }

            gate1.Release((int)(count / batch));
            gate2.Release((int)(count / batch));
        }

        await producers.WaitAsync(Timeout);
        await delivered;

        Assert.Empty(recorder1.Violations);
        Assert.Empty(recorder2.Violations);
        Assert.Equal(count, recorder2.ReceivedFrom(1));
        Assert.Equal(count, recorder1.ReceivedFrom(2));
        Assert.True(toNode1.Resets + toNode2.Resets > 0, "the proxies never reset a connection");
        var s12 = node1.GetStatistics(2);
        var s21 = node2.GetStatistics(1);
        Assert.True(s12.Retransmitted > 0, $"node 1 never retransmitted to node 2 ({toNode2.Resets} resets): {s12}");
        Assert.True(s21.Retransmitted > 0, $"node 2 never retransmitted to node 1 ({toNode1.Resets} resets): {s21}");
        Assert.Equal(count, s12.SeqSend);
        Assert.Equal(count, s21.SeqNext);
        Assert.Equal((long)count, s21.Delivered - 1); // + the STATUS

        // The FIN handshake still completes across the proxies once they leave the connections alone.
        await Task.WhenAll(node1.ShutdownAsync(), node2.ShutdownAsync()).WaitAsync(Timeout);
        Assert.Equal(PeerState.Closed, node1.GetStatistics(2).State);
        Assert.Equal(PeerState.Closed, node2.GetStatistics(1).State);
    }

    // The figure: at least 100,000 messages among 3 nodes, every node reachable only through its
    // proxy, a seeded random proxy resetting its connections every 20 ms while each producer sends one
    // batch per tick. Recorders check exactly-once in-order delivery per sender.
    [Fact]
    public async Task Messages_ThreeNodesRandomProxyResets_100000ExactlyOnceInOrder()
    {
        const int nodes = 3;
        const uint perDirection = 16_700; // 3 nodes × 2 peers × 16,700 = 100,200 messages
        const uint batch = 1_000;
        var ip = TestCluster.AllocateAddresses(2 * nodes); // nodes 1..3, then the proxy to each
        var proxies = new LoopbackProxy[nodes];
        for (var i = 0; i < nodes; i++)
        {
            proxies[i] = new LoopbackProxy(ip[nodes + i], Port, ip[i], Port);
        }

        var started = new (MessagingNode Node, Recorder Recorder)[nodes];
        try
        {
            for (var i = 0; i < nodes; i++)
            {
                // Peers are reached through their proxies (first address) and recognised by their own (second).
                var self = i + 1;
                var book = Enumerable.Range(1, nodes)
                    .Select(n => n == self ? new NodeAddress(n, [ip[n - 1]]) : new NodeAddress(n, [ip[nodes + n - 1], ip[n - 1]])).ToArray();
                started[i] = StartNode(self, book);
            }

            var pairs = (from a in Enumerable.Range(1, nodes) from b in Enumerable.Range(1, nodes) where a != b select (From: a, To: b)).ToArray();
            foreach (var (from, to) in pairs)
            {
                started[from - 1].Node.AddMember(to);
                TestCluster.SendStatus(started[from - 1].Node, to);
            }

            foreach (var (from, to) in pairs)
            {
                await started[to - 1].Recorder.WaitForRcomAsync(from, RcomType.Status, Timeout); // versions known before resets
            }

            var gates = pairs.Select(_ => new SemaphoreSlim(0)).ToArray();
            var producers = Task.WhenAll(pairs.Select((p, k) => Task.Run(() => ProduceAsync(started[p.From - 1].Node, p.To, perDirection, batch, gates[k]))));
            var delivered = Task.WhenAll(pairs.Select(p => started[p.To - 1].Recorder.WaitForAsync(p.From, perDirection, Timeout)));
            var random = new Random(20261127);
            using (var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(20)))
            {
                for (var tick = 0; tick < 300 && !delivered.IsCompleted; tick++)
                {
                    await timer.WaitForNextTickAsync();
                    proxies[random.Next(nodes)].ResetAll();
                    foreach (var gate in gates)
                    {
                        gate.Release();
                    }
                }

                foreach (var gate in gates)
                {
                    gate.Release((int)(perDirection / batch) + 1);
                }
            }

            await producers.WaitAsync(Timeout);
            await delivered;

            foreach (var (from, to) in pairs)
            {
                var recorder = started[to - 1].Recorder;
                Assert.Empty(recorder.Violations);
                Assert.Equal(perDirection, recorder.ReceivedFrom(from));
            }

            Assert.True(proxies.Sum(p => p.Resets) > 0, "the proxies never reset a connection");
            Assert.True(pairs.Sum(p => started[p.From - 1].Node.GetStatistics(p.To).Retransmitted) > 0, "nothing was retransmitted");
            foreach (var gate in gates)
            {
                gate.Dispose();
            }
        }
        finally
        {
            foreach (var (node, _) in started.Where(s => s.Node is not null))
            {
                await node.DisposeAsync();
            }

            foreach (var proxy in proxies.OfType<LoopbackProxy>())
            {
                await proxy.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Messages_ProxyPausedThenResumed_AllDeliveredWithoutReconnect()
    {
        var ip = TestCluster.AllocateAddresses(4);
        await using var toNode1 = new LoopbackProxy(ip[2], Port, ip[0], Port);
        await using var toNode2 = new LoopbackProxy(ip[3], Port, ip[1], Port);
        var (node1, recorder1) = StartNode(1, [new(1, [ip[0]]), new(2, [ip[3], ip[1]])]);
        await using var n1 = node1;
        var (node2, recorder2) = StartNode(2, [new(1, [ip[2], ip[0]]), new(2, [ip[1]])]);
        await using var n2 = node2;
        TestCluster.SendStatus(node1, 2);
        TestCluster.SendStatus(node2, 1);
        await recorder2.WaitForRcomAsync(1, RcomType.Status, Timeout);
        await recorder1.WaitForRcomAsync(2, RcomType.Status, Timeout);
        var connects = node1.GetStatistics(2).Transport.Connects;

        // Node 1 may send on its own connection (through toNode2) or on node 2's (through toNode1).
        toNode1.Pause();
        toNode2.Pause();
        for (uint i = 0; i < 2000; i++)
        {
            node1.SendMessage(2, TestCluster.Lockspace, TestCluster.Counted(i), "r"u8);
        }

        Assert.Equal(0u, recorder2.ReceivedFrom(1));
        toNode1.Resume();
        toNode2.Resume();
        await recorder2.WaitForAsync(1, 2000, Timeout);
        Assert.Empty(recorder2.Violations);
        Assert.Equal(connects, node1.GetStatistics(2).Transport.Connects);
        Assert.Equal(0, node1.GetStatistics(2).Retransmitted);
    }

    private static async Task ProduceAsync(MessagingNode node, int to, uint count, uint batch, SemaphoreSlim gate)
    {
        for (uint i = 0; i < count; i++)
        {
            if (i % batch == 0)
            {
                if (!await gate.WaitAsync(Timeout))
                {
                    throw new TimeoutException($"node {node.LocalNodeId}'s producer got no reset tick for batch {i / batch} after {Timeout}");
                }
            }

            node.SendMessage(to, TestCluster.Lockspace, TestCluster.Counted(i), "r"u8);
        }
    }

    private static (MessagingNode Node, Recorder Recorder) StartNode(int nodeId, NodeAddress[] book) =>
        TestCluster.StartNode(nodeId, book, o => o with
        {
            Transport = o.Transport with { ReconnectInterval = TimeSpan.FromMilliseconds(20), ShutdownTimeout = TimeSpan.FromSeconds(1) },
        });

    private static async Task<string> ReceiveTextAsync(Socket socket, int length)
    {
        var buffer = new byte[length];
        using var cts = new CancellationTokenSource(Timeout);
        for (var read = 0; read < length;)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, cts.Token);
            Assert.True(n > 0, $"connection closed after {read} of {length} bytes");
            read += n;
        }

        return System.Text.Encoding.ASCII.GetString(buffer);
    }
}
