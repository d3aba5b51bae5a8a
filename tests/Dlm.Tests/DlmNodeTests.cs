using System.Buffers.Binary;
using Dlm.Protocol;

namespace Dlm.Tests;

/// <summary>The public API over real TCP: three nodes on their own loopback addresses (127.210-249.x.y), one port.</summary>
public sealed class DlmNodeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static int _subnet = 210 * 256;

    private static async Task<DlmNode[]> StartClusterAsync(int count)
    {
        var subnet = Interlocked.Increment(ref _subnet);
        var cluster = new ClusterConfiguration
        {
            Cluster = "test",
            Nodes = Enumerable.Range(1, count).Select(i => new ClusterNode { Id = i, Addresses = [$"127.{subnet >> 8}.{subnet & 255}.{i}"] }).ToList(),
        };
        var nodes = new DlmNode[count];
        for (var i = 0; i < count; i++)
        {
            nodes[i] = await DlmNode.StartAsync(new DlmNodeOptions { Cluster = cluster, NodeId = i + 1, LeaveTimeout = TimeSpan.FromSeconds(2) });
        }

        return nodes;
    }

    // All at once, as a cluster shutting down: each peer is then out of the others' lockspaces before
    // the FIN handshake, so nobody waits in CLOSE_WAIT (spec §2.9) for a membership change.
    private static Task LeaveAllAsync(DlmNode[] nodes) => Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask())).WaitAsync(Timeout);

    [Fact]
    public async Task Lock_AcrossNodes_BlockingCallbackReleasesToTheWaiter()
    {
        var nodes = await StartClusterAsync(3);
        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("orders")));
        var asked = new TaskCompletionSource<LockMode>(TaskCreationOptions.RunContinuationsAsynchronously);
        foreach (var resource in new[] { "customer/1", "customer/2", "customer/3", "customer/4" })
        {
            asked = new TaskCompletionSource<LockMode>(TaskCreationOptions.RunContinuationsAsynchronously);
            var gate = asked;
            var holder = await spaces[0].LockAsync(resource, LockMode.Exclusive, new LockRequest { Blocking = (_, m) => gate.TrySetResult(m) }).WaitAsync(Timeout);
            var waiter = spaces[1].LockAsync(resource, LockMode.ProtectedRead);
            Assert.Equal(LockMode.ProtectedRead, await gate.Task.WaitAsync(Timeout));
            Assert.Null(await spaces[2].TryLockAsync(resource, LockMode.ProtectedWrite).WaitAsync(Timeout));
            await holder.DisposeAsync();
            var reader = await waiter.WaitAsync(Timeout);
            Assert.Equal(LockMode.ProtectedRead, reader.Mode);
            await reader.DisposeAsync();
        }

        await LeaveAllAsync(nodes);
    }

    [Fact]
    public async Task ValueBlock_CounterIncrementedOnEveryNode_SumIsExact()
    {
        const int perNode = 60;
        var nodes = await StartClusterAsync(3);
        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("counters", new LockspaceOptions { LvbLength = 32 })));
        var keepers = await Task.WhenAll(spaces.Select(s => s.LockAsync("counter", LockMode.Null))); // keep the LVB alive

        await Task.WhenAll(spaces.Select(space => Task.Run(async () =>
        {
            for (var i = 0; i < perNode; i++)
            {
                await using var held = await space.LockAsync("counter", LockMode.Exclusive, new LockRequest { ValueBlock = true });
                var value = BinaryPrimitives.ReadInt64LittleEndian(held.ValueBlock.Span);
                BinaryPrimitives.WriteInt64LittleEndian(held.ValueBlock.Span, value + 1);
            }
        }))).WaitAsync(TimeSpan.FromSeconds(60));

        await using var reader = await spaces[1].LockAsync("counter", LockMode.ProtectedRead, new LockRequest { ValueBlock = true }).WaitAsync(Timeout);
        Assert.Equal(3 * perNode, BinaryPrimitives.ReadInt64LittleEndian(reader.ValueBlock.Span));
        _ = keepers;
        await LeaveAllAsync(nodes);
    }

    [Fact]
    public async Task LockAsync_CancelledWhileWaiting_ThrowsOperationCanceled()
    {
        var nodes = await StartClusterAsync(2);
        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("cancel")));
        var queued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var holder = await spaces[0].LockAsync("r", LockMode.Exclusive, new LockRequest { Blocking = (_, _) => queued.TrySetResult() }).WaitAsync(Timeout);
        using var cts = new CancellationTokenSource();
        var waiting = spaces[1].LockAsync("r", LockMode.Exclusive, cancellationToken: cts.Token);
        await queued.Task.WaitAsync(Timeout);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(Timeout));
        await LeaveAllAsync(nodes);
    }

    [Fact]
    public async Task BlockingCallback_ArrivingWithTheGrant_CanReleaseTheLock()
    {
        var nodes = await StartClusterAsync(2);
        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("handover")));
        var secondQueued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = await spaces[0].LockAsync("r", LockMode.Exclusive, new LockRequest { Blocking = (_, _) => secondQueued.TrySetResult() }).WaitAsync(Timeout);
        // The second lock is granted and, in the same pass, asked to give way to the third (spec §4.10):
        // its callback runs before LockAsync returns and must still be able to release it.
        var second = spaces[1].LockAsync("r", LockMode.Exclusive, new LockRequest { Blocking = (h, mode) => _ = h.DisposeAsync().AsTask() });
        await secondQueued.Task.WaitAsync(Timeout); // the first holder's BAST proves the second is queued
        var third = spaces[0].LockAsync("r", LockMode.Exclusive);
        await Task.Yield();
        await first.DisposeAsync();
        await second.WaitAsync(Timeout); // granted, and released by its own callback (before or after this returns)
        await using var last = await third.WaitAsync(Timeout);
        Assert.Equal(LockMode.Exclusive, last.Mode);
        await LeaveAllAsync(nodes);
    }

    [Fact]
    public async Task JoinLockspace_BadName_ClearError()
    {
        var nodes = await StartClusterAsync(1);
        var e = await Assert.ThrowsAsync<ArgumentException>(() => nodes[0].JoinLockspaceAsync(new string('x', 65)));
        Assert.Contains("1..64 bytes", e.Message, StringComparison.Ordinal);
        await nodes[0].DisposeAsync();
    }
}
