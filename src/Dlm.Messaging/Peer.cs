using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm.Messaging;

/// <summary>
/// One peer in the driver: the pure <see cref="PeerProtocol"/>, the transport connection whose
/// lock guards both, messages waiting for the peer's version, and a signal for state waiters.
/// Implements the protocol's effects on the write queue.
/// </summary>
internal sealed class Peer : IPeerActions
{
    private readonly int _localNodeId;
    private TaskCompletionSource _changed = NewSignal();

    public Peer(int localNodeId, PeerConnection connection)
    {
        _localNodeId = localNodeId;
        Connection = connection;
        Protocol = new PeerProtocol(connection.NodeId);
    }

    public PeerConnection Connection { get; }

    public PeerProtocol Protocol { get; }

    public PeerLock SyncRoot => Connection.SyncRoot;

    /// <summary>
    /// Held from the sequence check through the handler call, so that messages from this peer
    /// reach the handler in sequence order even when they arrive on two sockets (main and
    /// othercon, spec §3.3). It also guards the receive-side sequence state, which the in-order
    /// path reads and advances without <see cref="SyncRoot"/> (<see cref="PeerProtocol.TryAcceptInOrder"/>):
    /// whatever can reset that state holds both. Taken before <see cref="SyncRoot"/>, never after it.
    /// </summary>
    public Lock ReceiveLock { get; } = new();

    /// <summary>Inner messages held while the version is unknown (spec §2.3), oldest first.</summary>
    public List<byte[]> WaitingForVersion { get; } = [];

    public long MalformedDropped;

    public long HandlerFailures;
    public long Retransmitted;

    /// <summary>Completes at the next state or version change. Read under <see cref="SyncRoot"/>.</summary>
    public Task Changed => _changed.Task;

    /// <summary>Wakes waiters; call under <see cref="SyncRoot"/> after an event.</summary>
    public void NotifyChanged()
    {
        var old = _changed;
        _changed = NewSignal();
        old.TrySetResult();
    }

    public void SendAck(uint nextExpected) => Connection.SetAckLocked(nextExpected);

    public void PostAck(uint nextExpected) => Connection.PostAck(nextExpected);

    public void SendFin(uint sequence)
    {
        var span = Connection.AppendLocked(WireLimits.OptsSize + WireLimits.HeaderSize, retained: true, sequence, mayWriteInline: false, out _);
        PacketWriter.WriteWrappedFin(span, sequence, _localNodeId); // under the lock: the send loop writes it
    }

    public void Release(uint nextExpected) => Connection.ReleaseLocked(nextExpected);

    public void ClearQueue() => Connection.DropRetainedLocked();

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
