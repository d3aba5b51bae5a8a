using System.Buffers.Binary;
using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>PERSISTENT locks, orphans, ORPHAN adoption and PURGE (spec §4.11, §4.21).</summary>
public sealed class OrphanTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private static readonly byte[] Name = "journal/7"u8.ToArray();

    [Theory]
    [InlineData(1)] // mastered where the orphan is held
    [InlineData(2)] // mastered on the other node
    public async Task Orphan_StaysHeldWithItsValueBlock_AdoptedByNameAndMode(int master)
    {
        await using var cluster = new InMemoryCluster(2);
        var (first, _) = await cluster[master].RequestAsync(Name, LockMode.Null).AsTask().WaitAsync(Timeout); // makes `master` the master
        var (held, result) = await cluster[1].RequestAsync(Name, LockMode.Exclusive, LockFlags.Persistent | LockFlags.ValBlk, ownerPid: 41)
            .AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
        BinaryPrimitives.WriteInt64LittleEndian(held.ValueBlock, 77);

        Assert.Equal(Errno.Ok, cluster[1].Orphan(held));
        Assert.True(held.IsOrphan);
        Assert.Equal([held], cluster[1].Orphans);
        var (_, refused) = await cluster[2].RequestAsync(Name, LockMode.ProtectedRead, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Again, refused); // the node still holds it for the owner that went

        Assert.Equal(Errno.Again, cluster[1].AdoptOrphan(Name, LockMode.ProtectedRead, LockFlags.None, 42, null).Result); // other mode only
        Assert.Equal(Errno.NoEntry, cluster[1].AdoptOrphan("journal/8"u8.ToArray(), LockMode.Exclusive, LockFlags.None, 42, null).Result);
        Assert.Equal(Errno.NoEntry, cluster[2].AdoptOrphan(Name, LockMode.Exclusive, LockFlags.None, 42, null).Result); // orphans are per node

        var (adopted, adoptedResult) = cluster[1].AdoptOrphan(Name, LockMode.Exclusive, LockFlags.ValBlk, 42, null);
        Assert.Equal(Errno.Ok, adoptedResult);
        Assert.Same(held, adopted);
        Assert.False(adopted!.IsOrphan);
        Assert.Equal(42, adopted.OwnerPid);
        Assert.Equal(77, BinaryPrimitives.ReadInt64LittleEndian(adopted.ValueBlock));
        Assert.Empty(cluster[1].Orphans);
        Assert.Equal(Errno.NoEntry, cluster[1].AdoptOrphan(Name, LockMode.Exclusive, LockFlags.None, 43, null).Result); // adopted once

        var waiting = cluster[2].RequestAsync(Name, LockMode.ProtectedRead, LockFlags.ValBlk).AsTask();
        Assert.Equal(Errno.Unlocked, cluster[1].Unlock(adopted, LockFlags.ValBlk));
        var (reader, _) = await waiting.WaitAsync(Timeout);
        Assert.Equal(77, BinaryPrimitives.ReadInt64LittleEndian(reader.ValueBlock));
        _ = first;
    }

    [Fact]
    public async Task Orphan_GetsNoBlockingCallback()
    {
        await using var cluster = new InMemoryCluster(2);
        var oldOwner = 0;
        var (held, _) = await cluster[1].RequestAsync(Name, LockMode.ProtectedRead, LockFlags.Persistent, (_, _) => Interlocked.Increment(ref oldOwner))
            .AsTask().WaitAsync(Timeout);
        cluster[1].Orphan(held);

        var writer = cluster[2].RequestAsync(Name, LockMode.Exclusive).AsTask(); // blocked by the orphan: its BAST reaches no one
        // Node 2's messages to node 1 (the master) arrive in order: once this reply is back, the writer is queued and the BAST was made.
        var (probe, _) = await cluster[2].RequestAsync(Name, LockMode.Null, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
        Assert.False(writer.IsCompleted);
        Assert.Equal(1, cluster[1].PurgeOrphans(0));
        var (written, _) = await writer.WaitAsync(Timeout);

        // Node 1's callbacks run in order: once this later grant on node 1 has completed, the BAST was dispatched.
        var reader = cluster[1].RequestAsync(Name, LockMode.ProtectedRead).AsTask();
        cluster[2].Unlock(written);
        await reader.WaitAsync(Timeout);
        Assert.Equal(0, Volatile.Read(ref oldOwner));
        _ = probe;
    }

    [Fact]
    public async Task Adopted_GetsTheAdoptersBlockingCallback()
    {
        await using var cluster = new InMemoryCluster(2);
        var (held, _) = await cluster[1].RequestAsync(Name, LockMode.ProtectedRead, LockFlags.Persistent, (_, _) => { }).AsTask().WaitAsync(Timeout);
        cluster[1].Orphan(held);
        var bast = new TaskCompletionSource<LockMode>(TaskCreationOptions.RunContinuationsAsynchronously);
        var (adopted, _) = cluster[1].AdoptOrphan(Name, LockMode.ProtectedRead, LockFlags.None, 9, (_, m) => bast.TrySetResult(m));

        var writer = cluster[2].RequestAsync(Name, LockMode.Exclusive).AsTask();
        Assert.Equal(LockMode.Exclusive, await bast.Task.WaitAsync(Timeout));
        cluster[1].Unlock(adopted!);
        Assert.Equal(Errno.Ok, (await writer.WaitAsync(Timeout)).Result);
    }

    [Fact]
    public async Task Orphan_PendingConversionIsCancelled_KeepsItsGrantedMode()
    {
        await using var cluster = new InMemoryCluster(2);
        var (reader, _) = await cluster[2].RequestAsync(Name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        var (held, _) = await cluster[1].RequestAsync(Name, LockMode.ProtectedRead, LockFlags.Persistent).AsTask().WaitAsync(Timeout);
        var up = cluster[1].ConvertAsync(held, LockMode.Exclusive, LockFlags.Persistent).AsTask(); // waits for node 2's reader

        Assert.Equal(Errno.Ok, cluster[1].Orphan(held));
        Assert.Equal(Errno.Cancelled, await up.WaitAsync(Timeout));
        Assert.Equal(LockMode.ProtectedRead, held.Mode);
        Assert.Equal(Errno.Ok, cluster[1].AdoptOrphan(Name, LockMode.ProtectedRead, LockFlags.None, 5, null).Result);
        _ = reader;
    }

    [Fact]
    public async Task Orphan_ReleasedOrAlreadyOrphaned_IsRefused_OrphanFlagOnRequestIsRefused()
    {
        await using var cluster = new InMemoryCluster(1);
        var (held, _) = await cluster[1].RequestAsync(Name, LockMode.Exclusive, LockFlags.Persistent).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, cluster[1].Orphan(held));
        Assert.Equal(Errno.Invalid, cluster[1].Orphan(held));
        Assert.Equal(1, cluster[1].PurgeOrphans(0));
        Assert.Equal(Errno.Invalid, cluster[1].Orphan(held)); // released by the purge
        Assert.Empty(cluster[1].Orphans);
        await Assert.ThrowsAsync<ArgumentException>(() => cluster[1].RequestAsync(Name, LockMode.Exclusive, LockFlags.Orphan).AsTask());
        Assert.Throws<LockArgumentException>(() => cluster[1].AdoptOrphan(Name, (LockMode)9, LockFlags.Orphan, 1, null));
    }

    [Theory]
    [InlineData(0)] // every orphan
    [InlineData(41)] // the orphans of owner 41
    public async Task Purge_ByMessageFromAnotherNode_UnlocksTheOwnersOrphans(int pid)
    {
        await using var cluster = new InMemoryCluster(2);
        var (kept, _) = await cluster[2].RequestAsync("other"u8.ToArray(), LockMode.Exclusive, LockFlags.Persistent, ownerPid: 40).AsTask().WaitAsync(Timeout);
        var (held, _) = await cluster[2].RequestAsync(Name, LockMode.Exclusive, LockFlags.Persistent, ownerPid: 41).AsTask().WaitAsync(Timeout);
        cluster[2].Orphan(kept);
        cluster[2].Orphan(held);

        var waiting = cluster[1].RequestAsync(Name, LockMode.Exclusive).AsTask();
        cluster[1].SendPurge(2, pid); // DLM_MSG_PURGE to node 2, no reply (spec §1.6)
        Assert.Equal(Errno.Ok, (await waiting.WaitAsync(Timeout)).Result);
        Assert.Equal(pid == 0 ? [] : [kept], cluster[2].Orphans);
        Assert.Throws<ArgumentOutOfRangeException>(() => cluster[1].SendPurge(3, pid)); // not a member
    }

    [Fact]
    public async Task MasterFails_OrphanStaysHeldThroughRecovery_ThenPurgedByMessage()
    {
        await using var cluster = new InMemoryCluster(3);
        var (anchor, _) = await cluster[3].RequestAsync(Name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 3 masters it
        var (held, _) = await cluster[1].RequestAsync(Name, LockMode.Exclusive, LockFlags.Persistent, ownerPid: 41).AsTask().WaitAsync(Timeout);
        cluster[1].Orphan(held);

        cluster.Fail(3);
        await cluster.RecoverAsync([1, 2]);

        // Node 1, the only holder, remasters it (spec §5.8) and keeps the orphan with its pid; node 2 cannot take it.
        var copy = cluster.Engines.Take(2).SelectMany(e => e.Dump()).SelectMany(r => r.Locks).Single(l => l.Node == 1 && l.Granted == LockMode.Exclusive);
        Assert.True(copy.Orphan);
        Assert.Equal(41, copy.Pid);
        var (_, refused) = await cluster[2].RequestAsync(Name, LockMode.Exclusive, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Again, refused);

        var waiting = cluster[2].RequestAsync(Name, LockMode.Exclusive).AsTask();
        cluster[2].SendPurge(1, 41);
        Assert.Equal(Errno.Ok, (await waiting.WaitAsync(Timeout)).Result);
        _ = anchor;
    }
}
