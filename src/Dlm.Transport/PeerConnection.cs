using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Dlm.Protocol;
using Microsoft.Extensions.Logging;

namespace Dlm.Transport;

/// <summary>
/// The one logical connection to a peer node (spec §3.1): its write queue, its main socket
/// (used to send and receive) and an optional "othercon" socket accepted while the main one
/// existed (receive only, spec §3.3). One send loop connects on demand, reconnects after a
/// failure and coalesces queued messages into large writes; each socket has a receive loop.
/// </summary>
public sealed partial class PeerConnection : IAsyncDisposable
{
    private readonly Transport _transport;
    private readonly TransportOptions _options;
    private readonly ILogger _logger;
    private readonly WriteQueue _queue = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Random _random;
    private Socket? _main;
    private Socket? _other;
    private bool _connecting;
    private bool _signalled;
    private bool _connectRequested;
    private bool _stopping;
    private Task? _dispose;
    private bool _sending;              // one writer at a time owns the main socket's send side: the loop or an inline writer
    private long _lastWriteEnd;         // when the last socket write returned (TimeProvider timestamp)
    private byte[]? _inline;            // the inline writer's buffer; also holds a partial write's remainder
    private readonly WriteQueue.Batch _inlineBatch = new(); // what an inline writer claimed (see ClaimLocked); the send loop has its own
    private int _remainderOffset, _remainderLength;
    private readonly int _streamBatchBytes;  // queued bytes at which a sender writes them itself (see CommittedSlowLocked)
    private uint _ack;                  // the newest ACK not yet written (spec §1.9: cumulative)
    private bool _ackPending;
    private bool _ackKnown;             // an ACK was ever queued: a broken write sends the latest again
    private long _postedAck;            // PostedFlag | the ACK a thread without the lock posted (see PostAck); 0 when none
    private TaskCompletionSource? _capacityWaiter;
    private int _capacityThreshold;
    private Task _sendLoop = Task.CompletedTask;
    private long _bytesSent, _writes, _bytesReceived, _messagesReceived, _connects, _connectFailures, _disconnects, _framingErrors;
    private int _epoch;                 // closes by configuration so far: a socket's reads are handed over only in its own epoch

    [ThreadStatic]
    private static PeerConnection? t_receiving; // on a receive thread: the connection it reads for, and that socket's epoch

    [ThreadStatic]
    private static int t_epoch;

    internal PeerConnection(Transport transport, NodeAddress node, TransportOptions options, ILogger logger)
    {
        _transport = transport;
        Node = node;
        _options = options;
        _logger = logger;
        _random = new Random(options.RandomSeed ^ node.NodeId);
        _streamBatchBytes = options.SendBufferSize * 3 / 4;
        SyncRoot = new PeerLock();
    }

    /// <summary>The peer.</summary>
    public NodeAddress Node { get; }

    /// <summary>The peer's node id.</summary>
    public int NodeId => Node.NodeId;

    /// <summary>
    /// The queue lock. Held by <see cref="ReserveLocked"/>'s caller, so the layer above can assign
    /// sequence numbers in the same critical section and sequence order equals byte order (spec §2.3).
    /// </summary>
    public PeerLock SyncRoot { get; }

    /// <summary>True while a main socket is connected.</summary>
    public bool IsConnected
    {
        get
        {
            using (SyncRoot.EnterScope())
            {
                return _main is not null && !_connecting;
            }
        }
    }

    /// <summary>
    /// Reserves <paramref name="length"/> bytes at the tail of the write queue. The caller holds
    /// <see cref="SyncRoot"/>, fills <see cref="SendSlot.Span"/> (inside or after the lock) and then
    /// calls <see cref="Commit"/>. A retained message stays queued after it is sent, until
    /// <see cref="ReleaseLocked"/> acknowledges <paramref name="sequence"/>, and is sent again
    /// on every new connection (spec §2.7).
    /// </summary>
    public SendSlot ReserveLocked(int length, bool retained, uint sequence)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, WireLimits.HeaderSize); // no message is shorter than its header (spec §1.2)
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, WireLimits.MaxMessageLength); // a receiver would close the connection (spec §3.5)
        if (!SyncRoot.IsHeldByCurrentThread)
        {
            throw new InvalidOperationException("Hold PeerConnection.SyncRoot while reserving.");
        }

        return _queue.Reserve(length, retained, sequence);
    }

    /// <summary>Marks a filled slot ready; the send loop writes it after every message reserved before it.</summary>
    public void Commit(SendSlot slot)
    {
        var nested = SyncRoot.IsHeldByCurrentThread; // then writing inline would happen under the lock
        bool writeInline;
        using (SyncRoot.EnterScope())
        {
            writeInline = CommitLocked(slot, mayWriteInline: !nested);
        }

        if (writeInline)
        {
            WriteInline();
        }
    }

    /// <summary>
    /// Marks a filled slot ready; the caller holds <see cref="SyncRoot"/>. When it returns true the
    /// connection was idle and the caller must call <see cref="WriteInline"/> once it has released
    /// the lock: the message then goes out on the caller's thread, without a hop to the send loop.
    /// </summary>
    public bool CommitLocked(SendSlot slot, bool mayWriteInline) => _queue.Commit(slot.Id) && CommittedLocked(mayWriteInline);

    /// <summary>
    /// <see cref="ReserveLocked"/> and <see cref="CommitLocked"/> in one step, for a caller that fills
    /// the returned bytes before it releases <see cref="SyncRoot"/> (the send loop cannot claim them
    /// before). <paramref name="writeInline"/> is <see cref="CommitLocked"/>'s result. Internal: midcomms is
    /// its only caller, once per message, so the lock is asserted, not checked (the check, a thread-local
    /// read, was 2 ns of the 27 ns a send costs); <see cref="ReserveLocked"/> keeps the check for others.
    /// </summary>
    internal Span<byte> AppendLocked(int length, bool retained, uint sequence, bool mayWriteInline, out bool writeInline)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, WireLimits.HeaderSize); // no message is shorter than its header (spec §1.2)
        Debug.Assert(SyncRoot.IsHeldByCurrentThread, "the caller holds SyncRoot");
        var span = _queue.Append(length, retained, sequence);
        writeInline = CommittedLocked(mayWriteInline);
        return span;
    }

    // After a commit: whether the caller writes inline, else the send loop is signalled. A stream of
    // messages finds the loop signalled already, with less than a stream batch waiting: that case is
    // inlined into every append.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool CommittedLocked(bool mayWriteInline)
    {
        if (_signalled && _queue.PendingBytes < _streamBatchBytes)
        {
            return false;
        }

        return CommittedSlowLocked(mayWriteInline);
    }

    // Who writes is ours to choose: spec §3.4 asks only for whole messages, in order, coalesced.
    // The caller writes inline when nobody else is writing and either the socket has been quiet a while
    // (a request after a pause goes out at once, without a hop to the send loop) or a stream batch is
    // waiting: the thread that filled those bytes writes them while its cache still holds them, instead of
    // the send loop reading them on another core (docs/performance.md, "Seventh session: stream batches").
    // Otherwise the send loop is signalled; it writes what an inline writer leaves.
    private bool CommittedSlowLocked(bool mayWriteInline)
    {
        if (mayWriteInline && !_sending && _remainderLength == 0 && _main is not null && !_connecting && !_stopping
            && (_queue.PendingBytes >= _streamBatchBytes || _options.TimeProvider.GetElapsedTime(_lastWriteEnd) > InlineQuietTime))
        {
            _sending = true;
            return true;
        }

        SignalLocked();
        return false;
    }

    /// <summary>
    /// Queues a cumulative DLM_ACK carrying <paramref name="nextExpected"/> (spec §1.9). ACKs do not
    /// wait in line: the latest one goes at the head of the next socket write, replacing any older
    /// one not yet written, so a sender's unacknowledged queue drains promptly however much we
    /// have queued ourselves. Caller holds <see cref="SyncRoot"/>.
    /// </summary>
    public void SetAckLocked(uint nextExpected)
    {
        _ack = nextExpected;
        _ackPending = _ackKnown = true;
        SignalLocked();
    }

    /// <summary>
    /// <see cref="SetAckLocked"/> for a thread that does not hold <see cref="SyncRoot"/>: the receive
    /// thread, whose in-order path acknowledges every 256 deliveries (spec §2.5). Taking the lock there
    /// made the receive thread wait whenever a sender holding it had been preempted, and nothing was read
    /// from the socket meanwhile. The next writer takes the value (see <see cref="TakePostedAckLocked"/>).
    /// </summary>
    public void PostAck(uint nextExpected)
    {
        // The exchange is a full fence, and so is the send loop's after it clears _signalled (an explicit
        // one, then its lock entry before it claims): either the loop, signalled already, looks for a post
        // after this one and sees it, or we see it unsignalled and signal it. An inline writer that owns
        // the socket meanwhile signals the loop when it ends. The flag is written here without the lock: a
        // race with a locked writer only costs the loop a spare wake-up, never a missed one.
        Interlocked.Exchange(ref _postedAck, PostedFlag | nextExpected);
        if (!Volatile.Read(ref _signalled))
        {
            Volatile.Write(ref _signalled, true);
            ReleaseSignal();
        }
    }

    private const long PostedFlag = 1L << 32;

    private bool HasPostedAck => Volatile.Read(ref _postedAck) != 0;

    // An ACK waits to be written: pending under the lock, or posted without it.
    private bool HasAckToWrite => _ackPending || HasPostedAck;

    // Under the lock: a posted ACK becomes the pending one, unless a newer one is pending already (both
    // carry a seq_next of the same sequence space, and it only grows, spec §2.6). A pending ACK that is not
    // "known" was left by a midcomms reset (DropRetainedLocked) from the sequence space that ended: the
    // posted one, of the new space, replaces it, as SetAckLocked's would.
    private void TakePostedAckLocked()
    {
        if (HasPostedAck && Interlocked.Exchange(ref _postedAck, 0) is var posted and not 0)
        {
            var value = (uint)posted;
            if (!_ackPending || !_ackKnown || (int)(value - _ack) > 0)
            {
                _ack = value;
            }

            _ackPending = _ackKnown = true;
        }
    }

    // Under the lock: the pending ACK (if any) written into the buffer, then whole queued messages claimed
    // for the same socket write into the writer's batch. Returns the ACK's length; the writer copies the
    // batch in after it without the lock, so producers and the receiver do not wait for a 64 KiB copy.
    private int ClaimLocked(byte[] buffer, WriteQueue.Batch batch)
    {
        var used = 0;
        TakePostedAckLocked();
        if (_ackPending)
        {
            used = PacketWriter.WriteAck(buffer, _ack, _transport.LocalNodeId);
            _ackPending = false;
        }

        _queue.Claim(buffer.Length - used, batch);
        CheckCapacityLocked();
        return used;
    }

    /// <summary>Drops retained messages acknowledged by a cumulative ACK of <paramref name="nextExpected"/>. Caller holds <see cref="SyncRoot"/>.</summary>
    public int ReleaseLocked(uint nextExpected)
    {
        var released = _queue.Release(nextExpected);
        CheckCapacityLocked();
        return released;
    }

    /// <summary>
    /// Drops every retained message; unsent plain ones (an ACK) still go out (midcomms reset, spec §2.2).
    /// The last ACK is no longer repeated after a broken connection: it belongs to the sequence space
    /// that ended, and the peer, which starts again at 0 too, would release that many new messages with
    /// it (spec §2.6). Caller holds <see cref="SyncRoot"/>.
    /// </summary>
    public void DropRetainedLocked()
    {
        _queue.DropRetained();
        _ackKnown = false;
        Interlocked.Exchange(ref _postedAck, 0);
        CheckCapacityLocked();
    }

    /// <summary>
    /// True on the receive thread of a socket this connection had when it was last closed by configuration
    /// (<see cref="CloseLocked"/>). What such a thread read belongs to the sequence space the close ended:
    /// the layer above drops it, checking under the same lock as its reset, so nothing read before the
    /// close is taken into the fresh state after it.
    /// </summary>
    internal bool ReceivingFromClosedSocket => t_receiving == this && t_epoch != Volatile.Read(ref _epoch);

    /// <summary>True on a receive thread of this connection (the layer above's handler runs there).</summary>
    internal bool OnReceiveThread => t_receiving == this;

    /// <summary>Closes by configuration so far (<see cref="CloseLocked"/>): a change during a hand-over ends what it may deliver.</summary>
    internal int Epoch => Volatile.Read(ref _epoch);

    /// <summary>Messages queued or retained. Caller holds <see cref="SyncRoot"/>.</summary>
    public int QueuedLocked => _queue.Count;

    /// <summary>
    /// Back-pressure for senders that can outrun the network: null if fewer than
    /// <paramref name="maxQueued"/> messages are queued (retained ones included), else a task that
    /// completes when the queue shrinks below the smallest threshold asked for, or the peer stops.
    /// </summary>
    public Task? WhenQueueBelowAsync(int maxQueued)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxQueued); // the queue is never below 0: it would wait for the stop
        using (SyncRoot.EnterScope())
        {
            if (_queue.Count < maxQueued || _stopping)
            {
                return null;
            }

            _capacityThreshold = _capacityWaiter is null ? maxQueued : Math.Min(_capacityThreshold, maxQueued);
            _capacityWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _capacityWaiter.Task;
        }
    }

    private void CheckCapacityLocked()
    {
        if (_capacityWaiter is not null && (_queue.Count < _capacityThreshold || _stopping))
        {
            _capacityWaiter.TrySetResult();
            _capacityWaiter = null;
        }
    }

    /// <summary>Connects now even with nothing to send (a node became a member, spec §3.3).</summary>
    public void Connect()
    {
        using (SyncRoot.EnterScope())
        {
            _connectRequested = true;
            SignalLocked();
        }
    }

    /// <summary>Fault injection: resets every socket of this peer (TCP RST); the send loop reconnects.</summary>
    public void Abort()
    {
        Socket? main, other;
        using (SyncRoot.EnterScope())
        {
            (main, other) = (_main, _other);
        }

        AbortSocket(main);
        AbortSocket(other);
    }

    /// <summary>Counters of this connection.</summary>
    public PeerTransportStatistics GetStatistics()
    {
        using (SyncRoot.EnterScope())
        {
            return new PeerTransportStatistics(NodeId, _main is not null && !_connecting, _main is null && _other is not null,
                _queue.Count, _queue.RetainedBytes, Interlocked.Read(ref _bytesSent), Interlocked.Read(ref _writes), Interlocked.Read(ref _bytesReceived),
                Interlocked.Read(ref _messagesReceived), _connects, _connectFailures, _disconnects, _framingErrors);
        }
    }

    internal void Start() => _sendLoop = Task.Run(() => SendLoopAsync(_stop.Token));

    private void SignalLocked()
    {
        if (!_signalled)
        {
            _signalled = true;
            ReleaseSignal();
        }
    }

    private void ReleaseSignal()
    {
        try
        {
            _signal.Release();
        }
        catch (ObjectDisposedException)
        {
            // Disposed: nothing will be sent any more; a late unlock or ACK is simply dropped.
        }
    }

    private static void AbortSocket(Socket? socket)
    {
        if (socket is null)
        {
            return;
        }

        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (ObjectDisposedException)
        {
        }
        catch (SocketException)
        {
        }
    }

    private IPEndPoint RemoteEndPoint => new(Node.Addresses[0], _options.Port);
}
