using System.Collections.Concurrent;
using System.Text;
using Dlm.Core;
using Dlm.Membership;
using Dlm.Messaging;
using Dlm.Protocol;
using Dlm.Transport;
using Microsoft.Extensions.Logging;

namespace Dlm;

/// <summary>
/// One node of a DLM cluster: the messaging layer to every configured peer and the lockspaces this
/// node joined. Lockspace membership comes from an <see cref="IMembershipProvider"/> (static from the
/// cluster file by default); every membership change stops the lockspace, recovers it (spec §5) and resumes.
/// </summary>
public sealed class DlmNode : IAsyncDisposable, IMessageHandler
{
    private readonly DlmNodeOptions _options;
    private readonly MessagingNode _messaging;
    private readonly PeerIncarnations _incarnations; // shared by every lockspace's driver
    private readonly IMembershipProvider _membership;
    private readonly ConcurrentDictionary<uint, Lockspace> _lockspaces = new();
    private readonly CancellationTokenRegistration _fencing;
    private long _unknownLockspace;
    private int _fenced;

    private DlmNode(DlmNodeOptions options)
    {
        _options = options;
        var addresses = options.Cluster.ToAddressBook(options.NodeId); // may refuse the configuration: before anything is created
        _membership = options.Membership ?? new StaticMembershipProvider(options.NodeId, options.Cluster.ToStaticMembers);
        _messaging = new MessagingNode(new MessagingOptions
        {
            Transport = new TransportOptions
            {
                Addresses = addresses,
                Port = options.Cluster.Port,
                ClusterMark = options.Cluster.Mark,
                LoggerFactory = options.LoggerFactory,
                TimeProvider = options.TimeProvider,
                RandomSeed = options.NodeId,
            },
            FinTimeout = options.LeaveTimeout,
        }, this);
        _incarnations = new PeerIncarnations(_messaging);
        _fencing = _membership.Liveness.Register(static state => ((DlmNode)state!).Fence(), this);
    }

    /// <summary>This node's id.</summary>
    public int NodeId => _options.NodeId;

    /// <summary>Messages for lockspaces this node has not joined (dropped and counted; a STATUS gets "not here").</summary>
    public long UnknownLockspaceMessages => Interlocked.Read(ref _unknownLockspace);

    /// <summary>True once the membership provider could no longer prove this node is a member: every lockspace is stopped for good.</summary>
    public bool IsFenced => Volatile.Read(ref _fenced) != 0;

    /// <summary>The messaging layer, for statistics.</summary>
    public MessagingNode Messaging => _messaging;

    /// <summary>The lockspaces joined now.</summary>
    public IReadOnlyCollection<Lockspace> Lockspaces => [.. _lockspaces.Values];

    /// <summary>Validates the configuration, listens on this node's address and starts the peers' connections.</summary>
    /// <exception cref="DlmConfigurationException">The configuration is invalid, or invalid for this node (e.g. more than one address, spec §3.1).</exception>
    public static async Task<DlmNode> StartAsync(DlmNodeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        cancellationToken.ThrowIfCancellationRequested();
        options.Cluster.Validate();
        var node = new DlmNode(options);
        try
        {
            node._messaging.Start();
        }
        catch
        {
            await node.DisposeAsync().ConfigureAwait(false); // e.g. the address is in use: release what the node created
            throw;
        }

        return node;
    }

    /// <summary>
    /// Joins lockspace <paramref name="name"/> (1..64 bytes): asks the membership provider, runs the
    /// first recovery with the members of its view (spec §5.3) and returns when locking is enabled.
    /// </summary>
    public async Task<Lockspace> JoinLockspaceAsync(string name, LockspaceOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        options ??= new LockspaceOptions();
        cancellationToken.ThrowIfCancellationRequested();
        var length = Encoding.UTF8.GetByteCount(name);
        if (length is 0 or > WireLimits.MaxLockspaceNameLength)
        {
            throw new ArgumentException($"A lockspace name is 1..64 bytes; '{name}' has {length}.", nameof(name));
        }

        ObjectDisposedException.ThrowIf(IsFenced, this);
        var engine = new LockspaceEngine(name, options.LvbLength, timeProvider: _options.TimeProvider,
            outbox: new Outbox(_messaging), localNodeId: NodeId, logger: _options.LoggerFactory.CreateLogger("Dlm.Core"), startStopped: true,
            isLive: () => !IsFenced && _membership.IsLive);
        var driver = new MembershipDriver(engine, _membership, _incarnations, _options.TimeProvider, _options.LoggerFactory.CreateLogger("Dlm.Membership"));
        var lockspace = new Lockspace(this, engine, driver);
        if (!_lockspaces.TryAdd(engine.GlobalId, lockspace))
        {
            await engine.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"Lockspace '{name}' is already joined on node {NodeId}; use the Lockspace you have.");
        }

        try
        {
            var view = await _membership.JoinAsync(name, cancellationToken).ConfigureAwait(false);
            driver.Start(view);
            await driver.Joined.WaitAsync(cancellationToken).ConfigureAwait(false);
            return lockspace;
        }
        catch
        {
            await LeaveAsync(lockspace).ConfigureAwait(false);
            throw;
        }
    }

    internal async ValueTask LeaveAsync(Lockspace lockspace)
    {
        if (_lockspaces.TryRemove(lockspace.GlobalId, out _))
        {
            await lockspace.Driver.DisposeAsync().ConfigureAwait(false);
            if (!IsFenced)
            {
                await _membership.LeaveAsync(lockspace.Name, CancellationToken.None).ConfigureAwait(false);
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

        await _fencing.DisposeAsync().ConfigureAwait(false);
        _incarnations.Dispose(); // every driver has ended with its lockspace
        await _messaging.ShutdownAsync().ConfigureAwait(false);
        await _messaging.DisposeAsync().ConfigureAwait(false);
        if (_options.Membership is null)
        {
            await _membership.DisposeAsync().ConfigureAwait(false);
        }
    }

    // Self-fencing (docs/membership.md): membership can no longer be proven, so no lockspace may act on its locks.
    private void Fence()
    {
        if (Interlocked.Exchange(ref _fenced, 1) == 0)
        {
            foreach (var lockspace in _lockspaces.Values)
            {
                lockspace.Engine.Fence(); // stopped for good; calls waiting now fail with the fenced error
            }
        }
    }

    void IMessageHandler.OnMessage(int nodeId, in Packet packet)
    {
        var id = packet.Inner.LockspaceId;
        var known = _lockspaces.TryGetValue(id, out var lockspace);
        if (packet.Kind == DlmCommand.Rcom)
        {
            var rcom = packet.Rcom;
            if (known)
            {
                lockspace!.Engine.ReceiveRcom(nodeId, rcom, packet.Extra);
            }
            else if (rcom.Type == RcomType.Status)
            {
                // spec §5.5: "not here" — the requester treats it as status 0 and keeps polling.
                var config = new byte[WireLimits.RcomConfigSize];
                new RcomConfig(RcomConfig.NotReadyLvbLength, 0, 0, 0, 0, 0).Write(config);
                _messaging.SendRcom(nodeId, id, new RcomHeader(RcomType.StatusReply, Errno.NoSuchProcess, rcom.Id, 0, rcom.Seq), config);
            }
            else
            {
                Interlocked.Increment(ref _unknownLockspace);
            }

            return;
        }

        if (known)
        {
            lockspace!.Engine.Receive(nodeId, packet.Message, packet.Extra);
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
