using System.Net;
using Dlm.Protocol;

namespace Dlm;

/// <summary>The checks behind <see cref="ClusterConfiguration.Validate"/>, each naming the setting and the allowed range.</summary>
internal static class ConfigurationRules
{
    public static IEnumerable<string> Check(ClusterConfiguration c)
    {
        if (string.IsNullOrWhiteSpace(c.Cluster) || c.Cluster.Length > WireLimits.MaxLockspaceNameLength)
        {
            yield return $"cluster: give a cluster name of 1..{WireLimits.MaxLockspaceNameLength} characters";
        }

        if (c.Port is < 1 or > 65535)
        {
            yield return $"port: {c.Port} is not a TCP port (1..65535; the DLM default is {WireLimits.DefaultPort})";
        }

        if (c.Nodes.Count == 0)
        {
            yield return "nodes: list at least one node";
        }
        else if (c.Etcd is null && !c.Nodes.Any(n => n.Member))
        {
            yield return "nodes: at least one node must be a member (\"member\": true)";
        }

        if (c.Generation < 1)
        {
            yield return $"generation: {c.Generation} is not a generation (1 or more)";
        }

        if (c.Etcd is { } etcd)
        {
            if (etcd.Endpoints.Count == 0 || etcd.Endpoints.Any(e => !Uri.TryCreate(e, UriKind.Absolute, out _)))
            {
                yield return "etcd.endpoints: give one or more client URLs such as http://127.0.0.1:2379";
            }

            if (etcd.TtlSeconds is < 2 or > 3600)
            {
                yield return $"etcd.ttl: {etcd.TtlSeconds} s is out of range (2..3600; etcd's floor is 2)";
            }
        }

        var families = new HashSet<System.Net.Sockets.AddressFamily>();
        var seenIds = new HashSet<int>();
        var seenAddresses = new Dictionary<IPAddress, int>();
        for (var i = 0; i < c.Nodes.Count; i++)
        {
            var node = c.Nodes[i];
            var at = $"nodes[{i}]";
            if (node.Id <= 0)
            {
                yield return $"{at}.id: {node.Id} is not a node id (positive integers only, spec §1.11)";
            }
            else if (!seenIds.Add(node.Id))
            {
                yield return $"{at}.id: node {node.Id} is listed twice";
            }

            if (node.Weight < 0)
            {
                yield return $"{at}.weight: {node.Weight} is negative (0 or more; 0 = never a directory node)";
            }

            if (node.Addresses.Count is 0 or > WireLimits.MaxAddressesPerNode)
            {
                yield return $"{at}.addresses: give 1..{WireLimits.MaxAddressesPerNode} addresses (has {node.Addresses.Count})";
            }

            for (var a = 0; a < node.Addresses.Count; a++)
            {
                var text = node.Addresses[a];
                if (!IPAddress.TryParse(text, out var address))
                {
                    yield return $"{at}.addresses[{a}]: '{text}' is not an IP address (the DLM identifies peers by IP, spec §3.2)";
                    continue;
                }

                families.Add(address.AddressFamily);
                if (seenAddresses.TryGetValue(address, out var owner))
                {
                    yield return $"{at}.addresses[{a}]: {address} already belongs to node {owner}; every address identifies one node";
                }
                else
                {
                    seenAddresses[address] = node.Id;
                }
            }
        }

        if (families.Count > 1)
        {
            yield return "nodes: mix of IPv4 and IPv6 addresses; the whole cluster uses one address family (spec §3.1)";
        }
    }
}
