using System.Net;
using Dlm.Membership.Etcd;
using Dlm.Membership.Tests;
using Dlm.Protocol;

namespace Dlm.Tests;

/// <summary>Lease expiry on etcd drives recovery; the silent node fences itself first (127.220.x.y).</summary>
public sealed class EtcdRecoveryTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task LeaseExpires_NodeFencesItself_SurvivorsRecoverAndGrantItsLocks()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        var cluster = new ClusterConfiguration
        {
            Cluster = "etcd",
            Nodes = Enumerable.Range(1, 3).Select(i => new ClusterNode { Id = i, Addresses = [$"127.220.0.{i}"] }).ToList(),
        };
        var providers = await Task.WhenAll(Enumerable.Range(1, 3).Select(id => EtcdMembershipProvider.StartAsync(new EtcdMembershipOptions
        {
            // Node 3 (the one that goes silent) has a short lease; the survivors a longer one, so a busy
            // test machine delaying their keep-alives cannot fence them too. 3 s, not 2: the liveness clock counts
            // from when a keep-alive was sent, and one CI run delayed node 3's answers past a 1.5 s window.
            Endpoints = etcd.Endpoints, NodeId = id, Address = IPAddress.Parse($"127.220.0.{id}"), Ttl = TimeSpan.FromSeconds(id == 3 ? 3 : 6),
            LoggerFactory = TestLogging.Factory,
        })));
        var nodes = await Task.WhenAll(providers.Select((p, i) => DlmNode.StartAsync(new DlmNodeOptions
        {
            Cluster = cluster, NodeId = i + 1, Membership = p, LeaveTimeout = TimeSpan.FromSeconds(1), LoggerFactory = TestLogging.Factory,
        })));
        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("ls"))).WaitAsync(Timeout);
        foreach (var i in Enumerable.Range(0, 10))
        {
            await spaces[2].LockAsync($"r{i}", LockMode.Exclusive).WaitAsync(Timeout); // node 3 masters and holds them
        }

        var waiting = Enumerable.Range(0, 10).Select(i => spaces[1].LockAsync($"r{i}", LockMode.Exclusive)).ToArray();
        var fenced = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var fencing = providers[2].Liveness.Register(() => fenced.TrySetResult());

        providers[2].PauseKeepAlive(true); // node 3 goes silent, as a paused process would
        var granted = await Task.WhenAll(waiting).WaitAsync(Timeout);
        var grantedAt = TimeProvider.System.GetTimestamp();

        Assert.All(granted, g => Assert.Equal(LockMode.Exclusive, g.Mode));
        // Node 3 stopped being live (IsLive, asked before each of its grants) before its locks were granted to node 2.
        Assert.True(providers[2].LiveUntil < grantedAt, "node 3 was still live when its locks were granted to node 2");
        await fenced.Task.WaitAsync(Timeout);
        Assert.True(nodes[2].IsFenced);
        Assert.False(spaces[2].IsRunning); // the fenced node no longer acts on its (stale) locks
        var refused = await Assert.ThrowsAsync<DlmException>(() => spaces[2].TryLockAsync("fresh", LockMode.Exclusive).WaitAsync(Timeout));
        Assert.Contains("fenced", refused.Message, StringComparison.Ordinal);
        Assert.Equal([1, 2], spaces[0].Members);

        await Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask())).WaitAsync(Timeout);
        foreach (var p in providers)
        {
            await p.DisposeAsync();
        }
    }
}
