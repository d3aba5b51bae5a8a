using System.Collections.Concurrent;
using System.Text;
using Dlm.Core;
using Dlm.Messaging;
using Dlm.Protocol;
using Dlm.Transport;
using Microsoft.Extensions.Logging;

namespace Dlm;

/// <summary>
/// One node of a DLM cluster: the messaging layer to every configured peer and the lockspaces this
/// node joined. Membership is static for now: every configured node is a member of every lockspace
/// it joins (recovery after membership changes comes with the membership work).
/// </summary>
public sealed class DlmNode : IAsyncDisposable, IMessageHandler
{
    private readonly DlmNodeOptions _options;
    private readonly MessagingNode _messaging;
    private readonly DirectoryNodes _directory;
    private readonly ConcurrentDictionary<uint, Lockspace> _lockspaces = new();
    private long _unknownLockspace;

    private DlmNode(DlmNodeOptions options)
    {
        _options = options;
        _directory = new DirectoryNodes(options.Cluster.DirectoryMembers);
        _messaging = new MessagingNode(new MessagingOptions
        {
            Transport = new TransportOptions
            {
                Addresses = options.Cluster.ToAddressBook(options.NodeId),
                Port = options.Cluster.Port,
                ClusterMark = options.Cluster.Mark,
                LoggerFactory = options.LoggerFactory,
                TimeProvider = options.TimeProvider,
                RandomSeed = options.NodeId,
            },
            FinTimeout = options.LeaveTimeout,
        }, this);
    }

    /// <summary>This node's id.</summary>
    public int NodeId => _options.NodeId;

    /// <summary>Messages for lockspaces this node has not joined (dropped and counted).</summary>
    public long UnknownLockspaceMessages => Interlocked.Read(ref _unknownLockspace);

    /// <summary>The messaging layer, for statistics.</summary>
    public MessagingNode Messaging => _messaging;

    /// <summary>Validates the configuration, listens on this node's address and starts the peers' connections.</summary>
    public static Task<DlmNode> StartAsync(DlmNodeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        cancellationToken.ThrowIfCancellationRequested();
        options.Cluster.Validate();
        var node = new DlmNode(options);
        node._messaging.Start();
        return Task.FromResult(node);
    }

    /// <summary>
    /// Joins lockspace <paramref name="name"/> (1..64 bytes): every configured node is a member; peers
    /// get a stateless STATUS ping so their protocol version is known before lock traffic (spec §2.8).
    /// </summary>
    public Task<Lockspace> JoinLockspaceAsync(string name, LockspaceOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        options ??= new LockspaceOptions();
        cancellationToken.ThrowIfCancellationRequested();
        var length = Encoding.UTF8.GetByteCount(name);
        if (length is 0 or > WireLimits.MaxLockspaceNameLength)
        {
            throw new ArgumentException($"A lockspace name is 1..64 bytes; '{name}' has {length}.", nameof(name));
        }

        var engine = new LockspaceEngine(name, options.LvbLength, timeProvider: _options.TimeProvider,
            outbox: new Outbox(_messaging), localNodeId: NodeId, directory: _directory,
            logger: _options.LoggerFactory.CreateLogger("Dlm.Core"));
        var lockspace = new Lockspace(this, engine);
        if (!_lockspaces.TryAdd(engine.GlobalId, lockspace))
        {
            throw new InvalidOperationException($"Lockspace '{name}' is already joined on node {NodeId}; use the Lockspace you have.");
        }

        var status = new byte[WireLimits.RcomStatusSize];
        foreach (var peer in _options.Cluster.Nodes.Where(n => n.Id != NodeId))
        {
            _messaging.AddMember(peer.Id);
            _messaging.SendRcom(peer.Id, engine.GlobalId, new RcomHeader(RcomType.Status, 0, 1, 1, 0), status);
        }

        return Task.FromResult(lockspace);
    }

    internal async ValueTask LeaveAsync(Lockspace lockspace)
    {
        if (_lockspaces.TryRemove(lockspace.GlobalId, out _))
        {
            foreach (var peer in _options.Cluster.Nodes.Where(n => n.Id != NodeId))
            {
                _messaging.RemoveMember(peer.Id);
            }

            await lockspace.Engine.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Leaves every lockspace and every peer cleanly (the FIN handshake, spec §2.9), then closes.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var lockspace in _lockspaces.Values)
        {
            await LeaveAsync(lockspace).ConfigureAwait(false);
        }

        await _messaging.ShutdownAsync().ConfigureAwait(false);
        await _messaging.DisposeAsync().ConfigureAwait(false);
    }

    void IMessageHandler.OnMessage(int nodeId, in Packet packet)
    {
        if (packet.Kind != DlmCommand.Message)
        {
            return; // RCOM: recovery comes with membership changes; the STATUS ping only detects versions
        }

        if (_lockspaces.TryGetValue(packet.Inner.LockspaceId, out var lockspace))
        {
            lockspace.Engine.Receive(nodeId, packet.Message, packet.Extra);
        }
        else
        {
            Interlocked.Increment(ref _unknownLockspace);
        }
    }

    private sealed class Outbox(MessagingNode messaging) : IEngineOutbox
    {
        public void Send(int nodeId, uint lockspaceId, in DlmMessage message, ReadOnlySpan<byte> extra) =>
            messaging.SendMessage(nodeId, lockspaceId, message, extra);

        public void SendRcom(int nodeId, uint lockspaceId, in RcomHeader rcom, ReadOnlySpan<byte> payload) =>
            messaging.SendRcom(nodeId, lockspaceId, rcom, payload);
    }
}
