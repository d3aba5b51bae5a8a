using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Dlm.Membership;
using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm;

/// <summary>
/// The cluster configuration file (JSON): the cluster's name, its one TCP port, an optional
/// default <c>SO_MARK</c>, and every node with its id, 1..3 addresses, directory weight and mark.
/// <code>
/// { "cluster": "demo", "port": 21064,
///   "nodes": [ { "id": 1, "addresses": ["127.0.0.1"] }, { "id": 2, "addresses": ["127.0.0.2"], "weight": 2 } ] }
/// </code>
/// </summary>
public sealed record ClusterConfiguration
{
    // Settable rather than init-only: the JSON source generator would reset absent init-only
    // properties to default(T) instead of keeping the defaults written here.

    /// <summary>Cluster name, 1..64 characters.</summary>
    [JsonPropertyName("cluster")]
    public string Cluster { get; set; } = "";

    /// <summary>The TCP port every node listens on and connects to (spec §3.1; default 21064).</summary>
    [JsonPropertyName("port")]
    public int Port { get; set; } = WireLimits.DefaultPort;

    /// <summary>Cluster default <c>SO_MARK</c>, 0 for none (Linux only, spec §3.7).</summary>
    [JsonPropertyName("mark")]
    public uint Mark { get; set; }

    /// <summary>The nodes.</summary>
    [JsonPropertyName("nodes")]
    public IReadOnlyList<ClusterNode> Nodes { get; set; } = [];

    /// <summary>Static membership generation: bumped by every change of <see cref="ClusterNode.Member"/> (<c>dlm member</c>).</summary>
    [JsonPropertyName("generation")]
    public long Generation { get; set; } = 1;

    /// <summary>Membership from etcd instead of this file's member flags; null for static membership.</summary>
    [JsonPropertyName("etcd")]
    public EtcdSettings? Etcd { get; set; }

    /// <summary>The static members: nodes marked as members, each incarnation being the generation it was (re-)added in.</summary>
    public StaticMembers ToStaticMembers() => new(Generation,
        Nodes.Where(n => n.Member).Select(n => new Member(n.Id, IPAddress.Parse(n.Addresses[0]), n.Since, n.Weight)).ToList());

    /// <summary>This configuration with node <paramref name="nodeId"/> made a member (or not) and the generation bumped.</summary>
    public ClusterConfiguration WithMember(int nodeId, bool member)
    {
        if (Nodes.All(n => n.Id != nodeId))
        {
            throw new DlmConfigurationException($"Node {nodeId} is not in cluster '{Cluster}'; the configured nodes are {string.Join(", ", Nodes.Select(n => n.Id))}.");
        }

        var generation = Generation + 1;
        return this with
        {
            Generation = generation,
            Nodes = Nodes.Select(n => n.Id != nodeId ? n : n with { Member = member, Since = member ? generation : n.Since }).ToList(),
        };
    }

    /// <summary>Writes the configuration to <paramref name="path"/> atomically (a temporary file renamed over it).</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this, ConfigurationJson.Default.ClusterConfiguration) + "\n");
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Reads and validates a configuration file.</summary>
    public static ClusterConfiguration Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string json;
        try
        {
            json = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DlmConfigurationException($"Cannot read the cluster configuration '{path}': {e.Message}", e);
        }

        return Parse(json, path);
    }

    /// <summary>Parses and validates configuration JSON; <paramref name="source"/> names it in errors.</summary>
    public static ClusterConfiguration Parse(string json, string source = "configuration")
    {
        ArgumentNullException.ThrowIfNull(json);
        ClusterConfiguration? configuration;
        try
        {
            configuration = JsonSerializer.Deserialize(json, ConfigurationJson.Default.ClusterConfiguration);
        }
        catch (JsonException e)
        {
            throw new DlmConfigurationException($"{source}: not valid cluster configuration JSON ({e.Path}, line {e.LineNumber + 1}): {e.Message}", e);
        }

        if (configuration is null)
        {
            throw new DlmConfigurationException($"{source}: the file is empty; give at least a cluster name and one node.");
        }

        configuration.Validate(source);
        return configuration;
    }

    /// <summary>Throws <see cref="DlmConfigurationException"/> naming the first setting out of range and the allowed range.</summary>
    public void Validate(string source = "configuration")
    {
        var errors = ConfigurationRules.Check(this).ToList();
        if (errors.Count > 0)
        {
            throw new DlmConfigurationException($"{source}: " + string.Join("; ", errors));
        }
    }

    /// <summary>The transport's address book as seen by <paramref name="localNodeId"/>.</summary>
    public AddressBook ToAddressBook(int localNodeId)
    {
        if (Nodes.FirstOrDefault(n => n.Id == localNodeId) is not { } local)
        {
            throw new DlmConfigurationException($"Node {localNodeId} is not in cluster '{Cluster}'; the configured nodes are {string.Join(", ", Nodes.Select(n => n.Id))}.");
        }

        if (local.Addresses.Count > 1)
        {
            throw new DlmConfigurationException(
                $"Node {localNodeId} (this node) has {local.Addresses.Count} addresses; TCP cannot serve a multi-homed node, give it one (spec §3.1). Peers may have up to 3.");
        }

        return new AddressBook(localNodeId, Nodes.Select(n => new NodeAddress(n.Id, n.Addresses.Select(IPAddress.Parse).ToList(), n.Mark)));
    }

    /// <summary>The members for directory selection (spec §1.11).</summary>
    public IReadOnlyList<DirectoryMember> DirectoryMembers => Nodes.Select(n => new DirectoryMember(n.Id, n.Weight)).ToList();
}

/// <summary>One node of the cluster configuration.</summary>
public sealed record ClusterNode
{
    /// <summary>Positive node id.</summary>
    [JsonPropertyName("id")]
    public int Id { get; set; }

    /// <summary>
    /// 1..3 IP addresses: the first is connected to, and any of them identifies the node's inbound
    /// connections. The node that runs with this id must have exactly one (TCP, spec §3.1).
    /// </summary>
    [JsonPropertyName("addresses")]
    public IReadOnlyList<string> Addresses { get; set; } = [];

    /// <summary>Directory weight (default 1; 0 = never a directory node unless all are 0).</summary>
    [JsonPropertyName("weight")]
    public int Weight { get; set; } = 1;

    /// <summary><c>SO_MARK</c> for this node's sockets, 0 = the cluster default.</summary>
    [JsonPropertyName("mark")]
    public uint Mark { get; set; }

    /// <summary>False when an administrator removed the node from the static membership.</summary>
    [JsonPropertyName("member")]
    public bool Member { get; set; } = true;

    /// <summary>The generation in which the node was last added (its incarnation under static membership).</summary>
    [JsonPropertyName("since")]
    public long Since { get; set; }
}

/// <summary>Where an etcd membership lives (docs/membership.md).</summary>
public sealed record EtcdSettings
{
    /// <summary>Client URLs, e.g. http://127.0.0.1:2379.</summary>
    [JsonPropertyName("endpoints")]
    public IReadOnlyList<string> Endpoints { get; set; } = [];

    /// <summary>Lease time-to-live in seconds (default 5; etcd's floor is 2).</summary>
    [JsonPropertyName("ttl")]
    public int TtlSeconds { get; set; } = 5;

    /// <summary>Key prefix (default /dlm).</summary>
    [JsonPropertyName("prefix")]
    public string Prefix { get; set; } = "/dlm";
}

/// <summary>A cluster configuration that cannot be used; the message names the setting and what is allowed.</summary>
public sealed class DlmConfigurationException : DlmException
{
    /// <summary>Creates the exception.</summary>
    public DlmConfigurationException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public DlmConfigurationException(string message, Exception innerException) : base(message, innerException) { }
}

[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, ReadCommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(ClusterConfiguration))]
internal sealed partial class ConfigurationJson : JsonSerializerContext;
