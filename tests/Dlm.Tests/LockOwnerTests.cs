using System.Buffers.Binary;
using Dlm.Protocol;

namespace Dlm.Tests;

/// <summary>Lock owners, PERSISTENT locks, orphans, adoption and PURGE through the public API over TCP (spec §4.21).</summary>
public sealed class LockOwnerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static int _subnet = 250 * 256;

    private static async Task<(DlmNode[] Nodes, Lockspace[] Spaces)> StartAsync(int count)
    {
        var subnet = Interlocked.Increment(ref _subnet);
        var cluster = new ClusterConfiguration
        {
            Cluster = "owners",
            Nodes = Enumerable.Range(1, count).Select(i => new ClusterNode { Id = i, Addresses = [$"127.{subnet >> 8}.{subnet & 255}.{i}"] }).ToList(),
        };
        var nodes = await Task.WhenAll(Enumerable.Range(1, count).Select(i =>
            DlmNode.StartAsync(new DlmNodeOptions { Cluster = cluster, NodeId = i, LeaveTimeout = TimeSpan.FromSeconds(2) })));
        var spaces = await Task.WhenAll(nodes.Select(n => n.JoinLockspaceAsync("journal"))).WaitAsync(Timeout);
        return (nodes, spaces);
    }

    private static Task LeaveAllAsync(DlmNode[] nodes) => Task.WhenAll(nodes.Select(n => n.DisposeAsync().AsTask())).WaitAsync(Timeout);

    [Fact]
    public async Task OwnerGone_PersistentLockBecomesAnOrphan_OthersAreUnlocked_AnotherOwnerAdoptsIt()
    {
        var (nodes, spaces) = await StartAsync(2);
        var crashed = spaces[0].CreateOwner(100);
        var journal = await crashed.LockAsync("journal/1", LockMode.Exclusive, new LockRequest { ValueBlock = true, Flags = LockFlags.Persistent })
            .WaitAsync(Timeout);
        BinaryPrimitives.WriteInt64LittleEndian(journal.ValueBlock.Span, 12);
        await crashed.LockAsync("scratch/1", LockMode.Exclusive).WaitAsync(Timeout);
        var busy = await spaces[1].LockAsync("busy/1", LockMode.Exclusive).WaitAsync(Timeout);
        var blocked = crashed.LockAsync("busy/1", LockMode.Exclusive); // in flight when the owner goes
        Assert.Equal(2, crashed.Locks.Count);

        var journalId = journal.LockId;
        await Task.WhenAll(crashed.DisposeAsync().AsTask(), crashed.DisposeAsync().AsTask()); // the process "exits" (twice is harmless)
        var gone = await Assert.ThrowsAsync<ObjectDisposedException>(() => blocked.WaitAsync(Timeout));
        Assert.Contains("was disposed while its request for 'busy/1' waited", gone.Message, StringComparison.Ordinal);
        Assert.Equal(LockMode.Invalid, journal.Mode); // the old handle is detached
        Assert.Equal([new OrphanLock("journal/1", LockMode.Exclusive, 100, journalId)], spaces[0].Orphans);
        Assert.Null(await spaces[1].TryLockAsync("journal/1", LockMode.ProtectedRead).WaitAsync(Timeout)); // still held by node 1
        var scratch = await spaces[1].TryLockAsync("scratch/1", LockMode.Exclusive).WaitAsync(Timeout); // unlocked with its owner
        Assert.NotNull(scratch);

        await using var recovering = spaces[0].CreateOwner(101);
        Assert.Null(await recovering.AdoptOrphanAsync("journal/2", LockMode.Exclusive).WaitAsync(Timeout));
        await Assert.ThrowsAsync<OrphanModeMismatchException>(() => recovering.AdoptOrphanAsync("journal/1", LockMode.ProtectedRead).WaitAsync(Timeout));
        var adopted = await recovering.AdoptOrphanAsync("journal/1", LockMode.Exclusive, new LockRequest { ValueBlock = true }).WaitAsync(Timeout);
        Assert.NotNull(adopted);
        Assert.Equal(12, BinaryPrimitives.ReadInt64LittleEndian(adopted.ValueBlock.Span));
        Assert.Empty(spaces[0].Orphans);
        Assert.Single(recovering.Locks);

        await adopted.DisposeAsync();
        var reader = await spaces[1].LockAsync("journal/1", LockMode.ProtectedRead).WaitAsync(Timeout);
        Assert.Equal(LockMode.ProtectedRead, reader.Mode);
        await busy.DisposeAsync();
        await LeaveAllAsync(nodes);
    }

    [Fact]
    public async Task PurgeOrphans_LocallyAndFromAnotherNode_ByOwnerId()
    {
        var (nodes, spaces) = await StartAsync(2);
        foreach (var (id, resource) in new[] { (7, "a"), (8, "b") })
        {
            var owner = spaces[1].CreateOwner(id);
            await owner.LockAsync(resource, LockMode.Exclusive, new LockRequest { Flags = LockFlags.Persistent }).WaitAsync(Timeout);
            await owner.DisposeAsync();
        }

        Assert.Equal(2, spaces[1].Orphans.Count);
        var waiting = spaces[0].LockAsync("a", LockMode.Exclusive);
        spaces[0].PurgeOrphans(2, 7); // DLM_MSG_PURGE to node 2 for owner 7
        await using var a = await waiting.WaitAsync(Timeout);
        Assert.Equal("b", spaces[1].Orphans.Single().Resource);
        Assert.Equal(1, spaces[1].PurgeOrphans());
        Assert.Empty(spaces[1].Orphans);
        await LeaveAllAsync(nodes);
    }

    [Fact]
    public async Task Misuse_ClearErrors()
    {
        var (nodes, spaces) = await StartAsync(1);
        var persistent = await Assert.ThrowsAsync<ArgumentException>(() =>
            spaces[0].LockAsync("x", LockMode.Exclusive, new LockRequest { Flags = LockFlags.Persistent }));
        Assert.Contains("LockOwner", persistent.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => spaces[0].TryLockAsync("x", LockMode.Exclusive, new LockRequest { Flags = LockFlags.Orphan }));
        Assert.Throws<ArgumentOutOfRangeException>(() => spaces[0].CreateOwner(0));
        var owner = spaces[0].CreateOwner(5);
        Assert.Throws<ArgumentException>(() => spaces[0].CreateOwner(5));
        await owner.DisposeAsync();
        await using var again = spaces[0].CreateOwner(5); // the id is free once its owner is gone
        await Assert.ThrowsAsync<ObjectDisposedException>(() => owner.LockAsync("x", LockMode.Exclusive));
        Assert.Throws<ArgumentOutOfRangeException>(() => spaces[0].PurgeOrphans(9, 0)); // not a member
        await LeaveAllAsync(nodes);
    }
}
