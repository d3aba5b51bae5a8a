using System.Diagnostics.CodeAnalysis;
using Dlm.Protocol;
using Dlm.Transport;
using Microsoft.Extensions.Logging;

namespace Dlm.Messaging;

/// <summary>
/// midcomms over lowcomms for one local node (spec §2): sends DLM_MSG and DLM_RCOM to peers
/// with the wrapping, sequencing and retransmission of protocol 3.2, delivers what peers send
/// exactly once and in order, and leaves peers with the FIN handshake.
/// </summary>
public sealed partial class MessagingNode : ITransportHandler, IAsyncDisposable
{
    private readonly MessagingOptions _options;
    private readonly IMessageHandler _handler;
    private readonly ILogger _logger;
    private readonly Transport.Transport _transport;
    private readonly Dictionary<int, Peer> _peers;
    private readonly Peer?[] _peerArray; // node ids are small and dense: index, don't hash

    /// <summary>Creates the node; call <see cref="Start"/> to listen and connect.</summary>
    public MessagingNode(MessagingOptions options, IMessageHandler handler)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(handler);
        options.Validate();
        _options = options;
        _handler = handler;
        _logger = options.Transport.LoggerFactory.CreateLogger("Dlm.Messaging");
        _transport = new Transport.Transport(options.Transport, this);
        LocalNodeId = _transport.LocalNodeId;
        _peers = _transport.Peers.ToDictionary(c => c.NodeId, c => new Peer(LocalNodeId, c));
        _peerArray = new Peer?[Math.Min(_peers.Keys.DefaultIfEmpty(0).Max() + 1, 4096)];
        foreach (var (id, peer) in _peers.Where(p => p.Key < _peerArray.Length))
        {
            _peerArray[id] = peer;
        }
    }

    /// <summary>Our node id.</summary>
    public int LocalNodeId { get; }

    /// <summary>The transport, for statistics and fault injection (<see cref="PeerConnection.Abort"/>).</summary>
    public Transport.Transport Transport => _transport;

    /// <summary>Starts listening and the peers' send loops.</summary>
    public void Start() => _transport.Start();

    /// <summary>
    /// Sends a DLM_MSG: wrapped with the next sequence number to a 3.2 peer, plain to a 3.1 peer,
    /// held until the version is known otherwise (spec §2.3). Never blocks on the network.
    /// </summary>
    public void SendMessage(int nodeId, uint lockspaceId, in DlmMessage message, ReadOnlySpan<byte> extra)
    {
        var peer = GetPeer(nodeId);
        var innerLength = PacketWriter.MessageLength(extra.Length);
        CheckLength(innerLength);
        bool writeInline;
        lock (peer.SyncRoot)
        {
            // Reserve, fill and commit in one critical section: a message is ~100 bytes, so filling
            // it here is cheaper than taking the lock twice, and a reset can never drop a slot being
            // filled (PeerConnection still offers reserve / fill outside / commit for larger payloads).
            var mode = peer.Protocol.ClassifySend(DlmCommand.Message);
            if (mode == SendMode.Wrapped)
            {
                // The common case in one step (spec §2.3): ACK first if due, next sequence number, envelope.
                peer.Protocol.PiggybackAck(peer);
                var seq = peer.Protocol.AssignSequence();
                var span = peer.Connection.AppendLocked(WireLimits.OptsSize + innerLength, retained: true, seq, mayWriteInline: true, out writeInline);
                PacketWriter.WriteWrappedMessage(span, seq, lockspaceId, LocalNodeId, message, extra);
            }
            else
            {
                PacketWriter.WriteMessage(Place(peer, mode, DlmCommand.Message, innerLength, out var slot), lockspaceId, LocalNodeId, message, extra);
                writeInline = mode != SendMode.Wait && peer.Connection.CommitLocked(slot, mayWriteInline: true);
            }
        }

        if (writeInline)
        {
            peer.Connection.WriteInline(); // the connection was idle: no hop to the send loop
        }
    }

    /// <summary>
    /// Sends a DLM_RCOM. STATUS and STATUS_REPLY go plain (stateless, they detect the version);
    /// the rest like <see cref="SendMessage"/> (spec §2.3, NAMES wrapped as 6.6+ kernels do).
    /// </summary>
    public void SendRcom(int nodeId, uint lockspaceId, in RcomHeader rcom, ReadOnlySpan<byte> payload)
    {
        var peer = GetPeer(nodeId);
        var innerLength = PacketWriter.RcomLength(payload.Length);
        CheckLength(innerLength);
        bool writeInline;
        lock (peer.SyncRoot)
        {
            var mode = peer.Protocol.ClassifySend(DlmCommand.Rcom, rcom.Type, rcom.Result);
            PacketWriter.WriteRcom(Place(peer, mode, DlmCommand.Rcom, innerLength, out var slot), lockspaceId, LocalNodeId, rcom, payload);
            writeInline = mode != SendMode.Wait && peer.Connection.CommitLocked(slot, mayWriteInline: true);
        }

        if (writeInline)
        {
            peer.Connection.WriteInline();
        }
    }

    // Under the peer lock: where the inner DLM_MSG or DLM_RCOM goes (spec §2.3): a held copy while the
    // peer's version is unknown (released in order once it is known), a plain slot for a 3.1 peer and the
    // stateless RCOMs, else a retained slot behind an OPTS header carrying the next sequence number.
    private Span<byte> Place(Peer peer, SendMode mode, DlmCommand command, int innerLength, out SendSlot slot)
    {
        if (mode == SendMode.Wait)
        {
            slot = default;
            var held = new byte[innerLength];
            peer.WaitingForVersion.Add(held);
            return held;
        }

        (slot, var seq) = Reserve(peer, mode, innerLength);
        if (mode == SendMode.Plain)
        {
            return slot.Span;
        }

        PacketWriter.WriteOptsHeader(slot.Span, seq, LocalNodeId, command, innerLength);
        return slot.Span[WireLimits.OptsSize..];
    }

    // Under the peer lock: a piggy-backed ACK first if due, then the slot; the sequence number is
    // assigned here so that sequence order is byte order on the wire (spec §2.3).
    private static (SendSlot Slot, uint Seq) Reserve(Peer peer, SendMode mode, int innerLength)
    {
        if (mode == SendMode.Plain)
        {
            return (peer.Connection.ReserveLocked(innerLength, retained: false, 0), 0);
        }

        peer.Protocol.PiggybackAck(peer);
        var seq = peer.Protocol.AssignSequence();
        return (peer.Connection.ReserveLocked(WireLimits.OptsSize + innerLength, retained: true, seq), seq);
    }

    private static void CheckLength(int innerLength)
    {
        if (innerLength > WireLimits.MaxAppMessageLength)
        {
            ThrowTooLong(innerLength);
        }
    }

    [DoesNotReturn]
    private static void ThrowTooLong(int innerLength) => throw new ArgumentOutOfRangeException(nameof(innerLength), innerLength,
        $"A DLM message is at most {WireLimits.MaxAppMessageLength} bytes (spec §1.10); shorten the name, LVB or payload.");

    private Peer GetPeer(int nodeId) => FindPeer(nodeId) ?? ThrowNotAPeer(nodeId);

    [DoesNotReturn]
    private Peer ThrowNotAPeer(int nodeId) =>
        throw new ArgumentException($"Node {nodeId} is not a configured peer of node {LocalNodeId}; add it to the cluster configuration first.", nameof(nodeId));

    private Peer? FindPeer(int nodeId) => (uint)nodeId < (uint)_peerArray.Length ? _peerArray[nodeId] : _peers.GetValueOrDefault(nodeId);
}
