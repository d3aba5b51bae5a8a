using System.Diagnostics;
using System.Text.Json;
using Dlm.Cli.Node;
using Dlm.Protocol;

namespace Dlm.Cli.Tests;

/// <summary><c>dlm status | ls | lockdump</c> against a running node's control socket, and <c>dlm member</c> (127.206.0.x).</summary>
public sealed class NodeCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("dlm-node-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task StatusLsLockdump_DescribeTheRunningNode()
    {
        var cluster = new ClusterConfiguration
        {
            Cluster = "control",
            Nodes = [new ClusterNode { Id = 1, Addresses = ["127.206.0.1"] }, new ClusterNode { Id = 2, Addresses = ["127.206.0.2"] }],
        };
        var nodes = await Task.WhenAll(new[] { 1, 2 }.Select(id => DlmNode.StartAsync(new DlmNodeOptions { Cluster = cluster, NodeId = id })));
        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("inventory")));
        await using var held = await spaces[1].LockAsync("shelf/7", LockMode.ProtectedWrite);
        var socket = Path.Combine(_directory, "node1.sock");
        await using (new ControlEndpoint(socket, nodes[0]))
        {
            var (exit, status, _) = await CliRunner.RunAsync(["status", "--control", socket]);
            Assert.Equal(0, exit);
            Assert.Contains("peer 2", status, StringComparison.Ordinal);
            Assert.Contains("lockspace inventory", status, StringComparison.Ordinal);

            var (_, ls, _) = await CliRunner.RunAsync(["ls", "--control", socket, "--json"]);
            var lockspace = JsonDocument.Parse(ls).RootElement.GetProperty("lockspaces")[0];
            Assert.Equal([1, 2], lockspace.GetProperty("members").EnumerateArray().Select(m => m.GetInt32()));
            Assert.True(lockspace.GetProperty("running").GetBoolean());

            Assert.Null(await spaces[0].TryLockAsync("shelf/7", LockMode.Exclusive)); // node 2's PW is enforced

            var (missing, _, err) = await CliRunner.RunAsync(["lockdump", "nope", "--control", socket]);
            Assert.Equal(1, missing);
            Assert.Contains("has not joined lockspace 'nope'", err, StringComparison.Ordinal);
        }

        var (none, _, noNode) = await CliRunner.RunAsync(["status", "--control", socket]);
        Assert.Equal(1, none);
        Assert.Contains("is 'dlm node' running?", noNode, StringComparison.Ordinal);
        await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask()));
    }

    [Fact]
    public async Task Lockdump_ShowsHeldLocksWithTheirModes()
    {
        var cluster = new ClusterConfiguration { Cluster = "dump", Nodes = [new ClusterNode { Id = 1, Addresses = ["127.206.1.1"] }] };
        await using var node = await DlmNode.StartAsync(new DlmNodeOptions { Cluster = cluster, NodeId = 1 });
        var space = await node.JoinLockspaceAsync("ls");
        await using var held = await space.LockAsync("shelf/1", LockMode.ConcurrentRead);
        var owner = space.CreateOwner(4242);
        await owner.LockAsync("shelf/2", LockMode.Exclusive, new LockRequest { Flags = LockFlags.Persistent });
        await owner.DisposeAsync(); // shelf/2 stays held as an orphan of owner 4242
        var socket = Path.Combine(_directory, "dump.sock");
        await using var endpoint = new ControlEndpoint(socket, node);
        var (exit, text, _) = await CliRunner.RunAsync(["lockdump", "ls", "--control", socket]);
        Assert.Equal(0, exit);
        Assert.Contains("resource shelf/1 master 1", text, StringComparison.Ordinal);
        Assert.Contains("CR -> IV Granted", text, StringComparison.Ordinal);
        Assert.Contains("EX -> IV Granted pid 4242 orphan", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MemberRemoveAndAdd_BumpTheGenerationInTheFile()
    {
        var path = Path.Combine(_directory, "cluster.json");
        await File.WriteAllTextAsync(path, """{ "cluster": "admin", "nodes": [ {"id":1,"addresses":["127.206.2.1"]}, {"id":2,"addresses":["127.206.2.2"]} ] }""");

        var (exit, output, _) = await CliRunner.RunAsync(["member", "remove", "--config", path, "--id", "2"]);
        Assert.Equal(0, exit);
        Assert.Contains("generation 2: node 2 is no longer a member", output, StringComparison.Ordinal);
        var removed = ClusterConfiguration.Load(path);
        Assert.Equal([1], removed.ToStaticMembers().Members.Select(m => m.NodeId));

        await CliRunner.RunAsync(["member", "add", "--config", path, "--id", "2"]);
        var added = ClusterConfiguration.Load(path).ToStaticMembers();
        Assert.Equal(3, added.Generation);
        Assert.Equal(3, added.Members.Single(m => m.NodeId == 2).Incarnation); // a new incarnation

        var (bad, _, err) = await CliRunner.RunAsync(["member", "add", "--config", path, "--id", "9"]);
        Assert.Equal(2, bad);
        Assert.Contains("give its --address", err, StringComparison.Ordinal);
    }

    // spec §3.7: SO_MARK needs CAP_NET_ADMIN (or CAP_NET_RAW). Without it, a node whose cluster file gives a peer a
    // mark used to start, then fail every connect to that peer, retried for ever; it now refuses to start and says why.
    // The node runs under setpriv without the two capabilities (the tests run as root).
    [Fact]
    public async Task Node_PeerMarkWithoutTheCapability_RefusedAtStartNamingIt()
    {
        var path = Path.Combine(_directory, "marked.json");
        await File.WriteAllTextAsync(path, """{ "cluster": "marked", "nodes": [ {"id":1,"addresses":["127.206.3.1"]}, {"id":2,"addresses":["127.206.3.2"],"mark":42} ] }""");
        var start = new ProcessStartInfo("setpriv") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[]
        {
            "--bounding-set=-net_admin,-net_raw", "--inh-caps=-net_admin,-net_raw", "dotnet", typeof(DlmCli).Assembly.Location,
            "node", "--config", path, "--id", "1", "--control", Path.Combine(_directory, "marked.sock"),
        })
        {
            start.ArgumentList.Add(arg);
        }

        using var node = Process.Start(start)!;
        var output = node.StandardOutput.ReadToEndAsync();
        var error = node.StandardError.ReadToEndAsync();
        try
        {
            await node.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            if (!node.HasExited)
            {
                node.Kill(entireProcessTree: true); // it started after all: do not leave it running
            }
        }

        Assert.Equal(1, node.ExitCode);
        Assert.Contains("dlm node: Cannot set SO_MARK 42", await error, StringComparison.Ordinal);
        Assert.Contains("CAP_NET_ADMIN", await error, StringComparison.Ordinal);
        Assert.DoesNotContain("listening", await output, StringComparison.Ordinal);
    }
}
