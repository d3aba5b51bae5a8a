using Dlm.Membership;
using Dlm.Protocol;

namespace Dlm.Tests;

/// <summary>The membership service failing under a lockspace's driver (127.227.x.y).</summary>
public sealed class MembershipFailureTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    // An etcd outage during the stop barrier, say: the join fails with the error instead of waiting for
    // good, and the node still leaves and shuts down.
    [Fact]
    public async Task BarrierThrows_JoinFailsWithTheErrorAndTheNodeStillDisposes()
    {
        var service = new InMemoryMembership();
        var cluster = new ClusterConfiguration
        {
            Cluster = "barrier",
            Nodes = [new ClusterNode { Id = 1, Addresses = ["127.227.0.1"] }],
        };
        var node = await DlmNode.StartAsync(new DlmNodeOptions
        {
            Cluster = cluster, NodeId = 1, Membership = new FailingBarrier(service.Connect(1)), LeaveTimeout = TimeSpan.FromSeconds(2),
            LoggerFactory = TestLogging.Factory,
        });

        var e = await Assert.ThrowsAsync<DlmException>(() => node.JoinLockspaceAsync("ls").WaitAsync(Timeout));
        Assert.Contains("the membership service is unreachable", e.Message, StringComparison.Ordinal);
        Assert.IsType<InvalidOperationException>(e.InnerException);
        await node.DisposeAsync().AsTask().WaitAsync(Timeout);
    }

    private sealed class FailingBarrier(IMembershipProvider inner) : IMembershipProvider
    {
        public int LocalNodeId => inner.LocalNodeId;

        public CancellationToken Liveness => inner.Liveness;

        public Task<MembershipView> JoinAsync(string lockspace, CancellationToken cancellationToken) => inner.JoinAsync(lockspace, cancellationToken);

        public Task LeaveAsync(string lockspace, CancellationToken cancellationToken) => inner.LeaveAsync(lockspace, cancellationToken);

        public IAsyncEnumerable<MembershipView> ViewsAsync(string lockspace, CancellationToken cancellationToken) => inner.ViewsAsync(lockspace, cancellationToken);

        public Task<bool> AwaitAllStoppedAsync(string lockspace, long generation, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("the membership service is unreachable");

        public Task EvictAsync(int nodeId, CancellationToken cancellationToken) => inner.EvictAsync(nodeId, cancellationToken);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
