using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
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
        using (peer.SyncRoot.EnterScope())
        {
            // Reserve, fill and commit in one critical section: a message is ~100 bytes, so filling
            // it here is cheaper than taking the lock twice, and a reset can never drop a slot being
            // filled (PeerConnection still offers reserve / fill outside / commit for larger payloads).
            var mode = peer.Protocol.ClassifySend(DlmCommand.Message);
            PacketWriter.WriteMessage(Place(peer, mode, DlmCommand.Message, innerLength, mayWriteInline: true, out writeInline),
                lockspaceId, LocalNodeId, message, extra);
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
        using (peer.SyncRoot.EnterScope())
        {
            var mode = peer.Protocol.ClassifySend(DlmCommand.Rcom, rcom.Type, rcom.Result);
            PacketWriter.WriteRcom(Place(peer, mode, DlmCommand.Rcom, innerLength, mayWriteInline: true, out writeInline),
                lockspaceId, LocalNodeId, rcom, payload);
        }

        if (writeInline)
        {
            peer.Connection.WriteInline();
        }
    }

    // Under the peer lock: where the inner DLM_MSG or DLM_RCOM goes (spec §2.3): a held copy while the
    // peer's version is unknown (released in order once it is known), a plain entry for a 3.1 peer and the
    // stateless RCOMs, else a retained entry behind an OPTS header carrying the next sequence number, a
    // piggy-backed ACK first if one is due. The number is assigned here, under the lock, so that sequence
    // order is byte order on the wire. The entry is committed at once: the caller fills it before it
    // releases the lock, and the socket writer claims only under it.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<byte> Place(Peer peer, SendMode mode, DlmCommand command, int innerLength, bool mayWriteInline, out bool writeInline)
    {
        switch (mode)
        {
            case SendMode.Wait:
                writeInline = false;
                var held = new byte[innerLength];
                peer.WaitingForVersion.Add(held);
                return held;
            case SendMode.Plain:
                return peer.Connection.AppendLocked(innerLength, retained: false, 0, mayWriteInline, out writeInline);
            default:
                peer.Protocol.PiggybackAck(peer);
                var seq = peer.Protocol.AssignSequence();
                var span = peer.Connection.AppendLocked(WireLimits.OptsSize + innerLength, retained: true, seq, mayWriteInline, out writeInline);
                PacketWriter.WriteOptsHeader(span, seq, LocalNodeId, command, innerLength);
                return span[WireLimits.OptsSize..];
        }
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

    /// <summary>A configured peer's state (tests: its locks).</summary>
    internal Peer PeerFor(int nodeId) => GetPeer(nodeId);

    [DoesNotReturn]
    private Peer ThrowNotAPeer(int nodeId) =>
        throw new ArgumentException($"Node {nodeId} is not a configured peer of node {LocalNodeId}; add it to the cluster configuration first.", nameof(nodeId));

    private Peer? FindPeer(int nodeId) => (uint)nodeId < (uint)_peerArray.Length ? _peerArray[nodeId] : _peers.GetValueOrDefault(nodeId);
}
