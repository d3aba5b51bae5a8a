using System.Net;
using System.Net.Sockets;
using Dlm.Protocol;
using Microsoft.Extensions.Time.Testing;

namespace Dlm.Transport.Tests;

/// <summary>The byte stream itself: coalesced writes, whole messages after a reset, a bounded receive backlog.</summary>
public sealed partial class TransportTests
{
    // spec §3.5: a connection holds one incomplete message at most, and the buffers it reads into stay
    // bounded even when a peer sends that message a byte at a time: each short read goes into the room
    // left in the current buffer, not into a fresh one (before, each read took a 64 KiB buffer of its
    // own, and a 4,096-byte message trickled in could hold up to 256 MiB).
    [Fact]
    public async Task Receive_MessageTrickledAByteAtATime_HoldsAtMostTwoBuffersAndDeliversIt()
    {
        var ip = TestNet.AllocateAddresses(2);
        var pool = new CountingMemoryPool();
        var handler = new RecordingHandler(1);
        await using var transport = TestNet.Start(TestNet.Options(1, ip) with { ReceiveMemoryPool = pool }, handler);
        using var peer = await TestNet.ConnectRawAsync(ip[1], ip[0]);

        var big = TestNet.Frame(2, 1, WireLimits.MaxMessageLength);
        await peer.SendAsync(TestNet.Frame(2, 0, 64)); // a stream's first read: nothing held after it
        await TestNet.SendChunkedAsync(peer, big, () => 1);
        await peer.SendAsync(TestNet.Frame(2, 2, 100));

        await handler.WaitForMessagesAsync(2, 3, Timeout);
        Assert.Equal([0u, 1u, 2u], handler.MessagesFrom(2).Select(TestNet.CounterOf));
        Assert.Equal(big, handler.MessagesFrom(2)[1]);
        Assert.InRange(pool.MostHeld, 1, 2);
    }

    // spec §3.4: queued messages go out coalesced. The test queues them all under the peer lock, so the send
    // loop finds every one queued at its first claim, however the threads are scheduled.
    [Fact]
    public async Task Send_ManyMessagesQueued_CoalescedIntoWritesOfTheSendBuffersSize()
    {
        await using var nodes = await TwoNodes.StartAsync();
        var (t1, h1, _, h2) = nodes;
        var options = nodes.Options1;
        var peer = t1.GetPeer(2);
        peer.Connect();
        await h1.WaitForConnectsAsync(2, 1, Timeout);

        const int Count = 1000, Length = 100;
        using (peer.SyncRoot.EnterScope())
        {
            for (uint i = 0; i < Count; i++)
            {
                var slot = peer.ReserveLocked(Length, retained: true, i);
                TestNet.Frame(1, i, Length).CopyTo(slot.Span);
                peer.CommitLocked(slot, mayWriteInline: false);
            }
        }

        await h2.WaitForMessagesAsync(1, Count, Timeout);
        Assert.Equal(Enumerable.Range(0, Count).Select(i => (uint)i), h2.MessagesFrom(1).Select(TestNet.CounterOf));
        var stats = peer.GetStatistics();
        var perWrite = options.SendBufferSize / Length;
        Assert.Equal(Count * Length, stats.BytesSent);
        Assert.Equal((Count + perWrite - 1) / perWrite, stats.Writes); // 2 with the default 64 KiB: 655 messages, then 345
    }

    // spec §3.4 leaves open which thread writes; ours: once a stream batch (3/4 of the send buffer) waits and
    // no writer owns the socket, the sender whose commit completed it writes it, although the socket was not
    // quiet. The clock stands still at 0, so no commit comes "after a quiet spell"; the messages are queued
    // under the peer lock, so the send loop, signalled by the first of them, cannot claim any meanwhile.
    [Fact]
    public async Task Send_StreamBatchQueued_TheSenderWhoseCommitCompletesItWritesItInline()
    {
        await using var nodes = await TwoNodes.StartAsync(o => o with { TimeProvider = new FakeTimeProvider(DateTimeOffset.MinValue) });
        var (t1, h1, t2, h2) = nodes;
        var options = nodes.Options1;
        var peer = t1.GetPeer(2);
        peer.Connect();
        await h1.WaitForConnectsAsync(2, 1, Timeout);

        const int Length = 100;
        var batchMessages = ((options.SendBufferSize * 3 / 4) + Length - 1) / Length;
        var inlineAt = 0;
        uint count = 0;
        using (peer.SyncRoot.EnterScope())
        {
            while (inlineAt == 0 && count < 2 * batchMessages)
            {
                var slot = peer.ReserveLocked(Length, retained: false, 0);
                TestNet.Frame(1, count, Length).CopyTo(slot.Span);
                inlineAt = peer.CommitLocked(slot, mayWriteInline: true) ? (int)count + 1 : 0;
                count++;
            }
        }

        peer.WriteInline();
        Assert.Equal(batchMessages, inlineAt);
        await h2.WaitForMessagesAsync(1, (int)count, Timeout);
        Assert.Equal(Enumerable.Range(0, (int)count).Select(i => (uint)i), h2.MessagesFrom(1).Select(TestNet.CounterOf));
        Assert.Equal(1, peer.GetStatistics().Writes); // the inline write took the whole batch; the loop found nothing left
    }

    // spec §3.4, §2.7: a write cut off by a reset is never resumed on the next connection. The peer reads
    // half of message 500 and resets; the next connection starts with the oldest unacknowledged message,
    // from its first byte, and carries every message whole and in order.
    [Fact]
    public async Task Send_ResetInTheMiddleOfAMessage_NextConnectionStartsWithTheOldestMessageWhole()
    {
        var ip = TestNet.AllocateAddresses(2);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.ReceiveBufferSize = 4096; // inherited by accepted sockets: our writes back up soon
        listener.Bind(new IPEndPoint(ip[1], TestNet.Port));
        listener.Listen();
        await using var t1 = TestNet.Start(TestNet.Options(1, ip), new RecordingHandler(1));

        const int Count = 20_000, Length = 200; // 4 MB: more than the socket buffers take while the peer stalls
        for (uint i = 0; i < Count; i++)
        {
            TestNet.Send(t1, 2, TestNet.Frame(1, i, Length), retained: true, sequence: i);
        }

        using (var first = await listener.AcceptAsync().WaitAsync(Timeout))
        {
            await TestNet.ReadExactlyAsync(first, new byte[(500 * Length) + (Length / 2)]);
            TestNet.Abort(first);
        }

        using var second = await listener.AcceptAsync().WaitAsync(Timeout);
        var frame = new byte[Length];
        for (uint i = 0; i < Count; i++)
        {
            await TestNet.ReadExactlyAsync(second, frame);
            Assert.True(frame.AsSpan().SequenceEqual(TestNet.Frame(1, i, Length)), $"message {i} on the new connection differs");
        }

        Assert.Equal(2, t1.GetPeer(2).GetStatistics().Connects);
    }

    // spec §3.5: the receive backlog is bounded. While the handler holds a message nothing more is read
    // from the socket, so a sender's non-blocking writes stop at the socket buffers (an unbounded reader
    // would take all 512 MB); once the handler goes on, every message arrives, in order.
    [Fact]
    public async Task Receive_HandlerStalled_SenderIsHeldBackAndEverythingArrivesAfter()
    {
        var ip = TestNet.AllocateAddresses(2);
        using var handler = new GatedHandler(new RecordingHandler(1));
        await using var t1 = TestNet.Start(TestNet.Options(1, ip), handler);
        using var peer = await TestNet.ConnectRawAsync(ip[1], ip[0]);
        const int Length = 4096;
        const long Limit = 512L << 20;
        var stream = new List<byte[]>();
        long written = 0;
        var offset = Length; // bytes of the last frame written so far: a new frame is due
        try
        {
            peer.Blocking = false;
            while (written < Limit)
            {
                if (offset == Length)
                {
                    stream.Add(TestNet.Frame(2, (uint)stream.Count, Length));
                    offset = 0;
                }

                var sent = peer.Send(stream[^1], offset, Length - offset, SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock)
                {
                    break;
                }

                Assert.Equal(SocketError.Success, error);
                written += sent;
                offset += sent;
            }

            Assert.True(written < Limit, $"the sender wrote {written:N0} bytes without being held back");
            Assert.True(handler.Held <= 1, $"{handler.Held} messages reached the stalled handler");
        }
        finally
        {
            handler.Open();
        }

        peer.Blocking = true;
        await peer.SendAsync(stream[^1].AsMemory(offset)); // the rest of the frame the last write stopped in

        await handler.Inner.WaitForMessagesAsync(2, stream.Count, Timeout);
        var received = handler.Inner.MessagesFrom(2);
        Assert.Equal(stream.Count, received.Count);
        Assert.Equal(Enumerable.Range(0, stream.Count).Select(i => (uint)i), received.Select(TestNet.CounterOf));
    }

    // Holds the receive thread in the first OnMessages until Open, then records as Inner does.
    private sealed class GatedHandler(RecordingHandler inner) : ITransportHandler, IDisposable
    {
        private readonly ManualResetEventSlim _gate = new();
        private int _held;

        public RecordingHandler Inner => inner;

        public int Held => Volatile.Read(ref _held);

        public void Open() => _gate.Set();

        public void Dispose() => _gate.Dispose();

        public void OnMessages(int nodeId, ReadOnlySpan<byte> messages)
        {
            Interlocked.Increment(ref _held);
            _gate.Wait(Timeout);
            inner.OnMessages(nodeId, messages);
        }

        public void OnConnected(int nodeId, int retransmitted) => inner.OnConnected(nodeId, retransmitted);
    }
}
