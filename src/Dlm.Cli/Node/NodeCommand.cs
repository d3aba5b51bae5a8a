using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Dlm.Membership;
using Dlm.Membership.Etcd;

namespace Dlm.Cli.Node;

/// <summary>
/// <c>dlm node</c> (one long-lived node with a control socket), <c>dlm status | ls | lockdump</c> (ask a
/// running node) and <c>dlm member add | remove</c> (change the static membership in the cluster file).
/// </summary>
internal static class NodeCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout)
    {
        var o = NodeOptions.Parse(args, "node");
        var path = o.RequireConfig("node");
        if (o.Id == 0)
        {
            throw new UsageException("'dlm node' needs --id N (this node's id in the cluster file)");
        }

        var cluster = ClusterConfiguration.Load(path);
        var membership = await MembershipAsync(cluster, path, o).ConfigureAwait(false);
        await using var m = membership.ConfigureAwait(false);
        var node = await DlmNode.StartAsync(new DlmNodeOptions
        {
            Cluster = cluster, NodeId = o.Id, Membership = membership, LoggerFactory = CliLogging.Factory,
        }).ConfigureAwait(false);
        await using var n = node.ConfigureAwait(false);
        var control = o.ControlPath(cluster);
        var endpoint = new ControlEndpoint(control, node);
        await using var e = endpoint.ConfigureAwait(false);
        var stop = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(DlmCli.Ok); });
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(DlmCli.Ok); });
        using var fenced = membership.Liveness.Register(() => stop.TrySetResult(DlmCli.Failed));
        var c = CultureInfo.InvariantCulture;
        await stdout.WriteLineAsync(string.Create(c, $"dlm node {o.Id} of cluster '{cluster.Cluster}' listening on {cluster.Nodes.First(n => n.Id == o.Id).Addresses[0]}:{cluster.Port}; control socket {control}")).ConfigureAwait(false);
        foreach (var name in o.Lockspaces)
        {
            var join = node.JoinLockspaceAsync(name, new LockspaceOptions { LvbLength = o.LvbLength });
            if (await Task.WhenAny(join, stop.Task).ConfigureAwait(false) != join)
            {
                await stdout.WriteLineAsync($"stopped while joining '{name}' (the join waits for every member)").ConfigureAwait(false);
                return await stop.Task.ConfigureAwait(false);
            }

            var space = await join.ConfigureAwait(false);
            await stdout.WriteLineAsync(string.Create(c, $"joined lockspace '{name}' (0x{space.GlobalId:x8}): generation {space.Generation}, slot {space.Slot}, members {string.Join(",", space.Members)}")).ConfigureAwait(false);
        }

        await stdout.FlushAsync().ConfigureAwait(false);
        var exit = await stop.Task.ConfigureAwait(false);
        await stdout.WriteLineAsync(exit == DlmCli.Ok ? "leaving" : "fenced: membership could no longer be proven; leaving without acting on locks").ConfigureAwait(false);
        return exit;
    }

    /// <summary><c>dlm status | ls | lockdump NAME</c>: ask a running node through its control socket.</summary>
    public static async Task<int> AskAsync(string command, string[] args, TextWriter stdout, TextWriter stderr)
    {
        var o = NodeOptions.Parse(args, command);
        var cluster = o.Config is null ? null : ClusterConfiguration.Load(o.Config);
        var request = command == "lockdump"
            ? $"lockdump {(o.Positional is [var name] ? name : throw new UsageException("'dlm lockdump' needs the lockspace name"))}"
            : command;
        string answer;
        try
        {
            answer = await ControlEndpoint.AskAsync(o.ControlPath(cluster), request, CancellationToken.None).ConfigureAwait(false);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            await stderr.WriteLineAsync($"dlm {command}: no node answers on {o.ControlPath(cluster)} ({e.Message}); is 'dlm node' running?").ConfigureAwait(false);
            return DlmCli.Failed;
        }

        var json = JsonNode.Parse(answer)!;
        if (json["error"] is { } error)
        {
            await stderr.WriteLineAsync($"dlm {command}: {error}").ConfigureAwait(false);
            return DlmCli.Failed;
        }

        await stdout.WriteAsync(o.Json ? answer : NodeText.Format(command, json)).ConfigureAwait(false);
        return DlmCli.Ok;
    }

    /// <summary><c>dlm member add|remove --config PATH --id N [--address IP]</c>: the administrator's static membership change.</summary>
    public static int Member(string verb, string[] args, TextWriter stdout)
    {
        var o = NodeOptions.Parse(args, $"member {verb}");
        var path = o.RequireConfig($"member {verb}");
        if (o.Id == 0)
        {
            throw new UsageException($"'dlm member {verb}' needs --id N");
        }

        var cluster = ClusterConfiguration.Load(path);
        if (verb == "add" && cluster.Nodes.All(n => n.Id != o.Id))
        {
            var address = o.Address ?? throw new UsageException($"node {o.Id} is not in {path}; give its --address");
            cluster = cluster with { Nodes = [.. cluster.Nodes, new ClusterNode { Id = o.Id, Addresses = [address], Member = false }] };
            cluster.Validate(path);
            stdout.WriteLine($"note: running nodes learn the address of a new node when they restart");
        }

        var changed = cluster.WithMember(o.Id, verb == "add");
        changed.Save(path);
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"generation {changed.Generation}: node {o.Id} {(verb == "add" ? "is a member" : "is no longer a member")}; running nodes recover within a second"));
        return DlmCli.Ok;
    }

    internal static async Task<IMembershipProvider> MembershipAsync(ClusterConfiguration cluster, string path, NodeOptions o)
    {
        if (cluster.Etcd is { } etcd)
        {
            var node = cluster.Nodes.FirstOrDefault(n => n.Id == o.Id)
                ?? throw new DlmConfigurationException($"{path}: node {o.Id} is not in cluster '{cluster.Cluster}'");
            return await EtcdMembershipProvider.StartAsync(new EtcdMembershipOptions
            {
                Endpoints = etcd.Endpoints, NodeId = o.Id, Address = System.Net.IPAddress.Parse(node.Addresses[0]), Weight = node.Weight,
                Ttl = TimeSpan.FromSeconds(etcd.TtlSeconds), Prefix = $"{etcd.Prefix}/{cluster.Cluster}", LoggerFactory = CliLogging.Factory,
            }).ConfigureAwait(false);
        }

        return new StaticMembershipProvider(o.Id, () => Read(path).ToStaticMembers(), o.StatePath(path), (id, _) =>
        {
            Read(path).WithMember(id, member: false).Save(path);
            return Task.CompletedTask;
        });
    }

    // The file may be mid-edit by hand: a parse error counts as "not readable now" (the provider retries).
    private static ClusterConfiguration Read(string path)
    {
        try
        {
            return ClusterConfiguration.Load(path);
        }
        catch (DlmConfigurationException e)
        {
            throw new IOException(e.Message, e);
        }
    }
}
