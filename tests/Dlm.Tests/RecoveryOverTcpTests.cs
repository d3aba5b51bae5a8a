using Dlm.Membership;
using Dlm.Protocol;

namespace Dlm.Tests;

/// <summary>Nodes fail and come back under an in-memory membership service, over real TCP (127.230-249.x.y).</summary>
public sealed class RecoveryOverTcpTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static int _subnet = 230 * 256;

    private static (ClusterConfiguration Cluster, InMemoryMembership Service) NewCluster(int count)
    {
        var subnet = Interlocked.Increment(ref _subnet);
        var cluster = new ClusterConfiguration
        {
            Cluster = "recovery",
            Nodes = Enumerable.Range(1, count).Select(i => new ClusterNode { Id = i, Addresses = [$"127.{subnet >> 8}.{subnet & 255}.{i}"] }).ToList(),
        };
        return (cluster, new InMemoryMembership());
    }

    private static Task<DlmNode> StartAsync(ClusterConfiguration cluster, InMemoryMembership service, int id) =>
        DlmNode.StartAsync(new DlmNodeOptions { Cluster = cluster, NodeId = id, Membership = service.Connect(id), LeaveTimeout = TimeSpan.FromSeconds(2),
            LoggerFactory = TestLogging.Factory });

    [Fact]
    public async Task NodeFails_SurvivorsRecover_WaiterGetsTheDeadNodesLock_RestartedNodeRejoins()
    {
        var (cluster, service) = NewCluster(3);
        var nodes = await Task.WhenAll(Enumerable.Range(1, 3).Select(id => StartAsync(cluster, service, id)));
        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("ls")).ToArray()).WaitAsync(Timeout);
        var resources = Enumerable.Range(0, 20).Select(i => $"r{i}").ToArray();
        foreach (var r in resources)
        {
            await spaces[2].LockAsync(r, LockMode.Exclusive).WaitAsync(Timeout); // node 3 masters and holds everything
        }

        var kept = await spaces[0].LockAsync("kept", LockMode.ProtectedRead).WaitAsync(Timeout);
        var waiting = resources.Select(r => spaces[1].LockAsync(r, LockMode.Exclusive)).ToArray();
        var stranded = spaces[2].LockAsync("kept", LockMode.Exclusive); // node 3 waits behind node 1's PR
        Assert.Null(await spaces[0].TryLockAsync(resources[0], LockMode.ProtectedRead).WaitAsync(Timeout));

        service.Fail(3); // node 3's process dies: its view ends, the survivors recover without it
        Assert.True(nodes[2].IsFenced);
        var fenced = await Assert.ThrowsAsync<DlmException>(() => stranded.WaitAsync(Timeout)); // fails now, does not hang
        Assert.Contains("fenced", fenced.Message, StringComparison.Ordinal);
        var granted = await Task.WhenAll(waiting).WaitAsync(Timeout);
        Assert.All(granted, g => Assert.Equal(LockMode.Exclusive, g.Mode));
        Assert.Equal(LockMode.ProtectedRead, kept.Mode);
        Assert.Equal([1, 2], spaces[0].Members);
        await nodes[2].DisposeAsync();

        // Node 3 comes back as a new incarnation; everyone recovers with it; its old locks are gone.
        var restarted = await StartAsync(cluster, service, 3);
        var rejoined = await restarted.JoinLockspaceAsync("ls").WaitAsync(Timeout);
        Assert.Equal([1, 2, 3], rejoined.Members);
        Assert.Null(await rejoined.TryLockAsync(resources[0], LockMode.ProtectedRead).WaitAsync(Timeout)); // node 2 holds it
        await granted[0].DisposeAsync();
        await using (var now = await rejoined.LockAsync(resources[0], LockMode.Exclusive).WaitAsync(Timeout))
        {
            Assert.Equal(LockMode.Exclusive, now.Mode);
        }

        await Task.WhenAll(new[] { nodes[0], nodes[1], restarted }.Select(n => n.DisposeAsync().AsTask())).WaitAsync(Timeout);
    }

    [Fact]
    public async Task NodeLeavesCleanly_OthersKeepLocking()
    {
        var (cluster, service) = NewCluster(3);
        var nodes = await Task.WhenAll(Enumerable.Range(1, 3).Select(id => StartAsync(cluster, service, id)));
        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("ls")).ToArray()).WaitAsync(Timeout);
        await spaces[2].LockAsync("left-behind", LockMode.Exclusive).WaitAsync(Timeout);

        await spaces[2].DisposeAsync(); // leave: its locks go with it

        await using var after = await spaces[0].LockAsync("left-behind", LockMode.Exclusive).WaitAsync(Timeout);
        Assert.Equal([1, 2], spaces[0].Members);
        Assert.True(spaces[0].Recoveries >= 2);
        await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask())).WaitAsync(Timeout);
    }
}
