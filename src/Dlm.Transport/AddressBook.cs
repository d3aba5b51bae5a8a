using System.Collections.Frozen;
using System.Net;
using System.Net.Sockets;
using Dlm.Protocol;

namespace Dlm.Transport;

/// <summary>A cluster node as the transport sees it (spec §3.1, §3.7).</summary>
/// <param name="NodeId">Positive node id.</param>
/// <param name="Addresses">1..3 IP addresses; the first is used to connect, any of them identifies inbound connections.</param>
/// <param name="Mark"><c>SO_MARK</c> for this node's sockets; 0 = the cluster default.</param>
public sealed record NodeAddress(int NodeId, IReadOnlyList<IPAddress> Addresses, uint Mark = 0);

/// <summary>
/// Node id → addresses, and inbound peer IP → node id (spec §3.2: the peer's port is ignored).
/// Immutable; the transport swaps in a new book when configuration changes.
/// </summary>
public sealed class AddressBook
{
    private readonly FrozenDictionary<int, NodeAddress> _byNode;
    private readonly FrozenDictionary<IPAddress, int> _byAddress;

    /// <summary>Builds and validates a book.</summary>
    public AddressBook(int localNodeId, IEnumerable<NodeAddress> nodes)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        var list = nodes.ToList();
        foreach (var node in list)
        {
            if (node.NodeId <= 0)
            {
                throw new ArgumentException($"Node id {node.NodeId} is invalid: node ids are positive (spec §1.11).", nameof(nodes));
            }

            if (node.Addresses.Count is 0 or > WireLimits.MaxAddressesPerNode)
            {
                throw new ArgumentException($"Node {node.NodeId} has {node.Addresses.Count} addresses; give 1..3 (spec §1.10).", nameof(nodes));
            }
        }

        var duplicateNode = list.GroupBy(n => n.NodeId).FirstOrDefault(g => g.Count() > 1);
        if (duplicateNode is not null)
        {
            throw new ArgumentException($"Node {duplicateNode.Key} is listed twice.", nameof(nodes));
        }

        var pairs = list.SelectMany(n => n.Addresses.Select(a => (Address: Normalize(a), n.NodeId))).ToList();
        var duplicateAddress = pairs.GroupBy(p => p.Address).FirstOrDefault(g => g.Count() > 1);
        if (duplicateAddress is not null)
        {
            throw new ArgumentException($"Address {duplicateAddress.Key} belongs to more than one node; a peer is identified by its IP (spec §3.2).", nameof(nodes));
        }

        _byNode = list.ToFrozenDictionary(n => n.NodeId);
        _byAddress = pairs.ToFrozenDictionary(p => p.Address, p => p.NodeId);
        if (!_byNode.TryGetValue(localNodeId, out var local))
        {
            throw new ArgumentException($"The local node {localNodeId} is not in the address book.", nameof(localNodeId));
        }

        Local = local;
    }

    /// <summary>The local node.</summary>
    public NodeAddress Local { get; }

    /// <summary>The local node id.</summary>
    public int LocalNodeId => Local.NodeId;

    /// <summary>Every node, the local one included.</summary>
    public IEnumerable<NodeAddress> Nodes => _byNode.Values;

    /// <summary>The peers: every node except the local one.</summary>
    public IEnumerable<NodeAddress> Peers => _byNode.Values.Where(n => n.NodeId != LocalNodeId);

    /// <summary>Looks up a node by id.</summary>
    public bool TryGetNode(int nodeId, out NodeAddress node) => _byNode.TryGetValue(nodeId, out node!);

    /// <summary>Maps an inbound peer address to its node id (port ignored, spec §3.2).</summary>
    public bool TryGetNodeId(IPAddress address, out int nodeId) => _byAddress.TryGetValue(Normalize(address), out nodeId);

    // Compared as the kernel compares them: an IPv4-mapped address as IPv4, an IPv6 one without its scope id
    // (a link-local peer configured as fe80::2 connects in as fe80::2%eth0).
    private static IPAddress Normalize(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4();
        }

        return address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0 ? new IPAddress(address.GetAddressBytes()) : address;
    }
}
