using System.Diagnostics;
using System.Net;
using Dlm.Messaging;
using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm.Messaging.Tests;

/// <summary>
/// A messaging node (node 1) against a hand-driven peer (node 2: a plain socket bound to node 2's
/// configured address, speaking the wire format through <see cref="PacketWriter"/>). The peer
/// first sends a plain RCOM STATUS, which detects its version (spec §2.8), then misbehaves in
/// one way per test: spec §2.4–§2.6, §2.9, §3.5.
/// </summary>
public sealed partial class MalformedPeerTests
{
    private const int RawNode = 2;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Framing_HLength4097_ConnectionClosedPeerResumesOnNewConnectionOthersUnaffected()
    {
        const uint perPhase = 500;
        var ip = TestCluster.AllocateAddresses(3);
        var (node, recorder) = StartNode(1, ip);
        await using var n1 = node;
        var (third, thirdRecorder) = StartNode(3, ip);
        await using var n3 = third;
        TestCluster.SendStatus(node, 3);
        TestCluster.SendStatus(third, 1);
        await recorder.WaitForRcomAsync(3, RcomType.Status, Timeout);
        await thirdRecorder.WaitForRcomAsync(1, RcomType.Status, Timeout);

        // Phase 1: node 3 talks to node 1 while the raw peer sends STATUS and seq 0.
        SendCounted(third, 1, 0, perPhase);
        SendCounted(node, 3, 0, perPhase);
        using (var bad = await RawPeer.ConnectAsync(ip[1], ip[0]))
        {
            await bad.SendAsync(Wire.Status(), Wire.Wrapped(0, 0));
            await recorder.WaitForAsync(RawNode, 1, Timeout);

            // Phase 2: h_length 4097 is a framing error; node 1 closes that connection (spec §3.5).
            await bad.SendAsync(Wire.HeaderOnly(4097), Wire.Wrapped(1, 1));
            SendCounted(third, 1, perPhase, perPhase);
            SendCounted(node, 3, perPhase, perPhase);
            Assert.Empty(await bad.ReadUntilClosedAsync("node 1 after h_length 4097 from node 2"));
        }

        var stats = node.GetStatistics(RawNode);
        Assert.Equal(1, stats.Transport.FramingErrors);
        Assert.Equal(1u, stats.SeqNext); // the wrapped seq 1 behind the bad header was never read
        Assert.Equal(1u, recorder.ReceivedFrom(RawNode));

        // Phase 3: the peer reconnects and carries on at the sequence number node 1 expects.
        using var good = await RawPeer.ConnectAsync(ip[1], ip[0]);
        await good.SendAsync(Wire.Wrapped(1, 1), Wire.Wrapped(2, 2));
        SendCounted(third, 1, 2 * perPhase, perPhase);
        SendCounted(node, 3, 2 * perPhase, perPhase);
        await recorder.WaitForAsync(RawNode, 3, Timeout);
        await recorder.WaitForAsync(3, 3 * perPhase, Timeout);
        await thirdRecorder.WaitForAsync(1, 3 * perPhase, Timeout);

        Assert.Empty(recorder.Violations);
        Assert.Empty(thirdRecorder.Violations);
        Assert.Equal(3u, node.GetStatistics(RawNode).SeqNext);
        Assert.Equal(PeerState.Established, node.GetStatistics(RawNode).State);
        Assert.Equal(0, node.GetStatistics(3).Transport.FramingErrors);
    }

    [Fact]
    public async Task Opts_Truncated_DroppedWithoutConsumingTheSequenceNumber()
    {
        await using var peer = await EstablishedAsync();
        var (node, recorder, raw) = (peer.Node, peer.Recorder, peer.Raw);

        // Counter 999 would be a Recorder violation if any of these were delivered.
        var bogus = Wire.Wrapped(1, 999);
        await raw.SendAsync(
            Wire.WithOptionsLength(bogus, 200),                          // o_optlen past the end of the envelope
            Wire.WithOptionsLength(bogus, 8),                            // inner message shorter than a DLM_MSG
            Wire.WithInnerLength(bogus, (ushort)(bogus.Length - 24 + 50)), // inner h_length beyond the envelope
            Wire.Wrapped(1, 1));                                         // the SAME seq, well formed
        await recorder.WaitForAsync(RawNode, 2, Timeout);

        Assert.Empty(recorder.Violations);
        var stats = node.GetStatistics(RawNode);
        Assert.Equal(3, stats.MalformedDropped);
        Assert.Equal(2u, stats.SeqNext);
        Assert.Equal(0, stats.GapsDropped);
        Assert.Equal(0, stats.Transport.FramingErrors); // h_length of the envelopes was fine
    }

    [Fact]
    public async Task Opts_InnerNodeIdWrong_NotDeliveredButSequenceNumberConsumed()
    {
        var ip = TestCluster.AllocateAddresses(2);
        var (node, recorder) = StartNode(1, ip);
        await using var n1 = node;
        using var raw = await RawPeer.ConnectAsync(ip[1], ip[0]);
        await raw.SendAsync(Wire.Status(), Wire.Wrapped(0, 0), Wire.Wrapped(1, 999, innerNode: 3), Wire.Wrapped(2, 1));
        await recorder.WaitForAsync(RawNode, 2, Timeout);

        Assert.Empty(recorder.Violations);
        var stats = node.GetStatistics(RawNode);
        Assert.Equal(3u, stats.SeqNext);
        Assert.Equal(2 + 1, stats.Delivered); // STATUS + seq 0 + seq 2
        Assert.Equal(1, stats.OtherDropped);
        Assert.Equal(0, stats.GapsDropped);
    }

    [Fact]
    public async Task Opts_InnerContentsInvalid_NotDeliveredButSequenceNumberConsumed()
    {
        await using var peer = await EstablishedAsync();
        var (node, recorder, raw) = (peer.Node, peer.Recorder, peer.Raw);

        // A sound envelope around bad contents passes midcomms (spec §2.4) and is rejected after its
        // sequence number is consumed (§4.20); dropping it before would stall everything behind it.
        await raw.SendAsync(
            Wire.WithInnerField(Wire.Wrapped(1, 999), 16, 15),          // m_type 15: no such message
            Wire.WithInnerField(Wire.Wrapped(2, 999), 72, 6),           // m_rqmode 6: no such mode
            Wire.WithInnerField(Wire.Wrapped(3, 999), 0, 0x00040000),   // inner h_version 4.0
            Wire.Wrapped(4, 1));
        await recorder.WaitForAsync(RawNode, 2, Timeout);

        Assert.Empty(recorder.Violations);
        var stats = node.GetStatistics(RawNode);
        Assert.Equal(5u, stats.SeqNext);
        Assert.Equal(3, stats.MalformedDropped);
        Assert.Equal(0, stats.GapsDropped);
        Assert.Equal(0, stats.OtherDropped);
        Assert.Equal(1 + 2, stats.Delivered); // STATUS + seq 0 + seq 4
    }

    [Fact]
    public async Task PlainMessage_FromV32Peer_DroppedAndLaterWrappedTrafficDelivered()
    {
        var ip = TestCluster.AllocateAddresses(2);
        var (node, recorder) = StartNode(1, ip);
        await using var n1 = node;
        using var raw = await RawPeer.ConnectAsync(ip[1], ip[0]);
        await raw.SendAsync(Wire.Status(), Wire.Plain(0), Wire.Wrapped(0, 0), Wire.Plain(1), Wire.Wrapped(1, 1));
        await recorder.WaitForAsync(RawNode, 2, Timeout);

        Assert.Empty(recorder.Violations);
        var stats = node.GetStatistics(RawNode);
        Assert.Equal(ProtocolVersion.V32, stats.Version);
        Assert.Equal(2u, stats.SeqNext);
        Assert.Equal(2, stats.OtherDropped);
        Assert.Equal(1 + 2, stats.Delivered);
    }

    [Fact]
    public async Task Opts_DuplicateSeq_DroppedAndReAckedWithNextExpected()
    {
        var ip = TestCluster.AllocateAddresses(2);
        var (node, recorder) = StartNode(1, ip);
        await using var n1 = node;
        using var raw = await RawPeer.ConnectAsync(ip[1], ip[0]);
        await raw.SendAsync(Wire.Status(), Wire.Wrapped(0, 0), Wire.Wrapped(1, 1), Wire.Wrapped(2, 2));
        await recorder.WaitForAsync(RawNode, 3, Timeout);

        await raw.SendAsync(Wire.Wrapped(1, 1));
        // Node 1 has nothing else to send node 2, so the first thing on the wire is the re-ACK (spec §2.5).
        var frame = await raw.ReadFrameAsync("node 1 re-ACKing a duplicate from node 2") ?? throw new InvalidOperationException("node 1 closed the connection instead of re-ACKing");
        var ack = Wire.Header(frame);
        Assert.Equal(DlmCommand.Ack, ack.Command);
        Assert.Equal(WireLimits.HeaderSize, ack.Length);
        Assert.Equal(3u, ack.Sequence);
        Assert.Equal(1, ack.NodeId);
        Assert.Equal(ProtocolVersion.V32, ack.Version);

        var stats = node.GetStatistics(RawNode);
        Assert.Equal(1, stats.DuplicatesDropped);
        Assert.Equal(1, stats.AcksSent);
        Assert.Equal(3u, stats.SeqNext);
        Assert.Equal(3u, recorder.ReceivedFrom(RawNode));
        Assert.Empty(recorder.Violations);
    }

    [Fact]
    public async Task Reset_ForgetsTheLastAck_TheNextConnectionCarriesNoAckOfTheOldSequenceSpace()
    {
        var ip = TestCluster.AllocateAddresses(2);
        var (node, recorder) = StartNode(1, ip);
        await using var n1 = node;
        using var listener = RawPeer.Listen(ip[1]);
        using (var raw = await RawPeer.ConnectAsync(ip[1], ip[0]))
        {
            // A duplicate makes node 1 ACK (spec §2.5); the transport remembers ACK(1) to repeat it after a broken write.
            await raw.SendAsync(Wire.Status(), Wire.Wrapped(0, 0), Wire.Wrapped(0, 0));
            Assert.Equal(1u, Wire.Header(await ReadAsync(raw, "the re-ACK")).Sequence);

            // The peer leaves: its FIN finds node 1 ESTABLISHED without lockspace users, so node 1 ACKs it and
            // sends its own FIN (LAST_ACK); the peer's ACK of that FIN resets node 1's side (spec §2.9).
            await raw.SendAsync(Wire.Fin(1));
            var ack = await ReadAsync(raw, "the ACK of the peer's FIN");
            Assert.Equal((DlmCommand.Ack, 2u), (Wire.Kind(ack), Wire.Header(ack).Sequence));
            var fin = await ReadAsync(raw, "node 1's FIN");
            Assert.Equal(DlmCommand.Fin, Wire.Kind(fin));
            await raw.SendAsync(Wire.Ack(Wire.Header(fin).Sequence + 1));
            Assert.True(await node.WaitForStateAsync(RawNode, PeerState.Closed, Timeout));
            Assert.Equal(1, node.GetStatistics(RawNode).Resets);

            // A framing error makes node 1 close this connection; it closes the socket after its bookkeeping.
            await raw.SendAsync(Wire.HeaderOnly(4097));
            await raw.ReadUntilClosedAsync("node 1 closing after a framing error");
        }

        // The next connection starts a new sequence space: the old ACK(2) must not go first, or the peer
        // would release that many of its new, unacknowledged messages (spec §2.6).
        TestCluster.SendStatus(node, RawNode);
        using var back = await RawPeer.AcceptAsync(listener);
        var first = await ReadAsync(back, "node 1's first message on its new connection");
        Assert.Equal(DlmCommand.Rcom, Wire.Kind(first));
        Assert.Empty(recorder.Violations);
    }

    private static async Task<byte[]> ReadAsync(RawPeer raw, string what) =>
        await raw.ReadFrameAsync(what) ?? throw new InvalidOperationException($"node 1 closed the connection before {what}");

    [Fact]
    public async Task V31Peer_PlainBothWaysNoAckAndNoFinAtShutdown()
    {
        const uint count = 300; // more than the 256 that makes a 3.2 receiver ACK on its own (spec §2.5)
        var ip = TestCluster.AllocateAddresses(2);
        var (node, recorder) = StartNode(1, ip, timeouts: TimeSpan.FromMinutes(10));
        await using var n1 = node;
        using var raw = await RawPeer.ConnectAsync(ip[1], ip[0]);
        await raw.SendAsync([Wire.Status(version: ProtocolVersion.V31),
            .. Enumerable.Range(0, (int)count).Select(i => Wire.Plain((uint)i, version: ProtocolVersion.V31))]);
        await recorder.WaitForAsync(RawNode, count, Timeout);
        Assert.Empty(recorder.Violations);
        Assert.Equal(ProtocolVersion.V31, node.GetStatistics(RawNode).Version);

        node.AddMember(RawNode);
        for (uint i = 0; i < 10; i++)
        {
            node.SendMessage(RawNode, TestCluster.Lockspace, TestCluster.Counted(i), "r"u8);
        }

        var shutdown = node.ShutdownAsync();
        // Everything node 1 sends until its half-close: the 10 plain messages, then nothing (no ACK, no FIN).
        var frames = await raw.ReadUntilClosedAsync("node 1 sending to a 3.1 peer and shutting down");
        raw.Dispose();
        await shutdown.WaitAsync(Timeout); // within the test's Timeout, not the 10-minute FIN wait: there is no FIN to wait for

        Assert.Equal(10, frames.Count);
        for (var i = 0; i < frames.Count; i++)
        {
            var header = Wire.Header(frames[i]);
            Assert.Equal(DlmCommand.Message, header.Command);
            Assert.Equal(ProtocolVersion.V32, header.Version); // every header we emit says 3.2 (spec §1.4)
            Assert.Equal((uint)i, PacketDecoder.Decode(frames[i]).Message.LockId);
        }

        Assert.Equal(0, node.GetStatistics(RawNode).AcksSent);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Fin_PeerNeverAnswers_ShutdownEndsAfterTheTimeout(bool killed)
    {
        await using var peer = await EstablishedAsync(); // FinTimeout 1 s, ShutdownTimeout 1 s
        var (node, recorder, raw) = (peer.Node, peer.Recorder, peer.Raw);
        Assert.Equal(PeerState.Established, node.GetStatistics(RawNode).State);

        var stopwatch = Stopwatch.StartNew();
        var shutdown = node.ShutdownAsync();
        var fin = await raw.ReadFrameAsync("node 1 sending its FIN to node 2") ?? throw new InvalidOperationException("node 1 closed the connection without a FIN");
        Assert.Equal(DlmCommand.Opts, Wire.Header(fin).Command);
        Assert.Equal(DlmCommand.Fin, Wire.Kind(fin));
        Assert.Equal(0u, Wire.Header(fin).Sequence);
        Assert.Equal(PeerState.FinWait1, node.GetStatistics(RawNode).State);
        if (killed)
        {
            raw.Abort(); // the peer dies with our FIN unanswered; nothing listens on its address
        }

        await shutdown.WaitAsync(Timeout);
        var elapsed = stopwatch.Elapsed;
        // Killed: the FIN wait (1 s), then nothing left to close. Alive but silent: the FIN wait,
        // then the half-close wait (1 s) for a peer that never closes its side.
        // The upper bounds leave room for a loaded test host; what matters is that the waits happened and ended.
        var (least, most) = killed ? (0.9, 6.0) : (1.9, 8.0);
        Assert.True(elapsed >= TimeSpan.FromSeconds(least) && elapsed < TimeSpan.FromSeconds(most),
            $"node 1's shutdown with a {(killed ? "killed" : "silent")} peer took {elapsed}, expected {least}..{most} s");
        var stats = node.GetStatistics(RawNode);
        Assert.Equal(PeerState.Closed, stats.State); // reset after shutdown (spec §3.6)
        Assert.Equal(0u, stats.SeqSend);
    }

    // FinTimeout, VersionWaitTimeout and ShutdownTimeout of 1 s by default: the dead-peer tests time them.
    // A test that must show no timeout was waited for passes one longer than its own Timeout.
    // Node 1 started, the raw peer connected as node 2, its version detected by a STATUS and its seq 0 delivered.
    private static async Task<EstablishedPeer> EstablishedAsync()
    {
        var ip = TestCluster.AllocateAddresses(2);
        var (node, recorder) = StartNode(1, ip);
        try
        {
            var raw = await RawPeer.ConnectAsync(ip[1], ip[0]);
            await raw.SendAsync(Wire.Status(), Wire.Wrapped(0, 0));
            await recorder.WaitForAsync(RawNode, 1, Timeout);
            return new EstablishedPeer(node, recorder, raw);
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    private sealed record EstablishedPeer(MessagingNode Node, Recorder Recorder, RawPeer Raw) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            Raw.Dispose();
            await Node.DisposeAsync();
        }
    }

    private static (MessagingNode Node, Recorder Recorder) StartNode(int nodeId, IPAddress[] addresses, TimeSpan? timeouts = null) =>
        TestCluster.StartNode(nodeId, addresses.Select((a, i) => new NodeAddress(i + 1, [a])), o => o with
        {
            Transport = o.Transport with { ShutdownTimeout = timeouts ?? TimeSpan.FromSeconds(1) },
            FinTimeout = timeouts ?? TimeSpan.FromSeconds(1),
            VersionWaitTimeout = timeouts ?? TimeSpan.FromSeconds(1),
        });

    private static void SendCounted(MessagingNode from, int to, uint first, uint count)
    {
        for (var i = first; i < first + count; i++)
        {
            from.SendMessage(to, TestCluster.Lockspace, TestCluster.Counted(i), "r"u8);
        }
    }
}
