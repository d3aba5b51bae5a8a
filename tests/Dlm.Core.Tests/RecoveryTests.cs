using System.Buffers.Binary;
using System.Text;
using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>Recovery after membership changes (spec §5), over the in-memory network with real RCOM traffic.</summary>
public sealed partial class RecoveryTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static byte[] Name(string text) => Encoding.ASCII.GetBytes(text);

    // A name whose directory node among `members` is `directory`.
    private static byte[] NameWithDirectory(int directory, int[] members, string prefix)
    {
        var nodes = new DirectoryNodes(members.Select(m => new DirectoryMember(m)));
        for (var i = 0; ; i++)
        {
            var name = Name($"{prefix}{i}");
            if (nodes.NodeFor(ResourceHash.Compute(name)) == directory)
            {
                return name;
            }
        }
    }

    // Recovery among nodes 1 and 2 runs until it sends an RCOM that `drop` picks (dropped, as a node that had
    // stopped for a newer view would); then that newer view comes: the first recovery ends aborted, the next completes.
    private static async Task AbortFirstRecoveryAsync(InMemoryCluster cluster, Func<int, RcomHeader, bool> drop)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Drop = (_, to, rcom) => drop(to, rcom) && (reached.TrySetResult() || true);
        cluster[1].Stop();
        cluster[2].Stop();
        var view = new[] { new DirectoryMember(1), new DirectoryMember(2) };
        var first = new[] { cluster[1].RecoverAsync(view), cluster[2].RecoverAsync(view) };
        await reached.Task.WaitAsync(Timeout);

        cluster.Drop = null;
        await cluster.RecoverAsync([1, 2]);
        Assert.All(await Task.WhenAll(first).WaitAsync(Timeout), Assert.False);
    }

    [Fact]
    public async Task FirstRecovery_ThreeNodes_RunningWithGenerationAndDistinctSlots()
    {
        await using var cluster = new InMemoryCluster(3, startStopped: true);
        Assert.All(cluster.Engines, e => Assert.False(e.IsRunning));

        await cluster.RecoverAsync([1, 2, 3]);

        Assert.All(cluster.Engines, e => Assert.True(e.IsRunning));
        Assert.All(cluster.Engines, e => Assert.Equal(1u, e.Generation));
        Assert.Equal([1, 2, 3], cluster.Engines.Select(e => e.Slot).Order());
        // Only the low node (the coordinator) sets the X_ALL bits in its own status (spec §5.4).
        Assert.Equal((RecoveryStatus)0xFF, cluster[1].Status);
        Assert.Equal((RecoveryStatus)0x55, cluster[2].Status);
        Assert.Equal((RecoveryStatus)0x55, cluster[3].Status);
    }

    [Fact]
    public async Task LockRequest_WhileStopped_WaitsAndIsGrantedAfterRecovery()
    {
        await using var cluster = new InMemoryCluster(2, startStopped: true);
        var request = cluster[2].RequestAsync(Name("early"), LockMode.Exclusive).AsTask();
        Assert.False(request.IsCompleted);

        await cluster.RecoverAsync([1, 2]);

        var (_, result) = await request.WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
    }

    [Fact]
    public async Task MasterFails_WaiterOnItsLockIsGranted_SurvivorsKeepTheirLocks()
    {
        await using var cluster = new InMemoryCluster(3);
        var contested = Name("contested");
        var shared = Name("shared");
        // Node 3 masters both (it asks first): it holds EX on one; node 1 holds PR on the other.
        var (exclusive, _) = await cluster[3].RequestAsync(contested, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        var (anchor, _) = await cluster[3].RequestAsync(shared, LockMode.Null).AsTask().WaitAsync(Timeout);
        var (reader, readResult) = await cluster[1].RequestAsync(shared, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, readResult);
        Assert.False(reader.IsMasteredLocally);
        var waiter = cluster[2].RequestAsync(contested, LockMode.Exclusive).AsTask();
        await ProbeAsync(cluster, 2, contested); // the waiter is queued on node 3 by now
        Assert.False(waiter.IsCompleted);

        cluster.Fail(3);
        await cluster.RecoverAsync([1, 2]);

        var (granted, result) = await waiter.WaitAsync(Timeout);
        Assert.Equal((Errno.Ok, LockMode.Exclusive), (result, granted.Mode));
        Assert.Equal(LockMode.ProtectedRead, reader.Mode);
        // The surviving PR is enforced by the new master: EX NOQUEUE is refused, PR is granted.
        var (_, refused) = await cluster[2].RequestAsync(shared, LockMode.Exclusive, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Again, refused);
        var (_, second) = await cluster[2].RequestAsync(shared, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, second);
        _ = (exclusive, anchor);
    }

    [Fact]
    public async Task RequestInFlightToFailedMaster_IsResentAfterRecovery()
    {
        await using var cluster = new InMemoryCluster(3);
        var name = Name("inflight");
        var (held, _) = await cluster[3].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 3 masters it
        cluster.Fail(3);
        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask(); // the REQUEST is lost: nothing can answer it
        Assert.False(request.IsCompleted);

        await cluster.RecoverAsync([1, 2]);

        var (_, result) = await request.WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
        _ = held;
    }

    [Fact]
    public async Task UpConversionInFlightToFailedMaster_IsResentAfterRecovery()
    {
        await using var cluster = new InMemoryCluster(3);
        var name = Name("converting");
        var (anchor, _) = await cluster[3].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout);
        var (engineLock, _) = await cluster[1].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        cluster.Fail(3);
        var convert = cluster[1].ConvertAsync(engineLock, LockMode.Exclusive).AsTask();

        await cluster.RecoverAsync([1, 2]);

        Assert.Equal(Errno.Ok, await convert.WaitAsync(Timeout));
        Assert.Equal(LockMode.Exclusive, engineLock.Mode);
        _ = anchor;
    }

    [Fact]
    public async Task NewMaster_TakesValueBlockFromLockGrantedAboveCr()
    {
        await using var cluster = new InMemoryCluster(3);
        var name = Name("value");
        var (anchor, _) = await cluster[3].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout);
        var (writer, _) = await cluster[1].RequestAsync(name, LockMode.Exclusive, LockFlags.ValBlk).AsTask().WaitAsync(Timeout);
        BinaryPrimitives.WriteInt64LittleEndian(writer.ValueBlock, 4242);
        Assert.Equal(Errno.Ok, await cluster[1].ConvertAsync(writer, LockMode.ProtectedRead, LockFlags.ValBlk).AsTask().WaitAsync(Timeout));

        cluster.Fail(3);
        await cluster.RecoverAsync([1, 2]);

        var (reader, result) = await cluster[2].RequestAsync(name, LockMode.ProtectedRead, LockFlags.ValBlk).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
        Assert.Equal(4242, BinaryPrimitives.ReadInt64LittleEndian(reader.ValueBlock));
        Assert.False(reader.StatusFlags.HasFlag(StatusBlockFlags.ValNotValid));
        _ = anchor;
    }

    [Fact]
    public async Task ExclusiveHolderWithValueBlockDies_ValueBlockMarkedNotValid()
    {
        await using var cluster = new InMemoryCluster(3);
        var name = Name("dying-writer");
        var (anchor, _) = await cluster[1].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 1 masters it
        var (writer, _) = await cluster[3].RequestAsync(name, LockMode.Exclusive, LockFlags.ValBlk).AsTask().WaitAsync(Timeout);
        BinaryPrimitives.WriteInt64LittleEndian(writer.ValueBlock, 7);
        await cluster[3].ConvertAsync(writer, LockMode.Null, LockFlags.ValBlk).AsTask().WaitAsync(Timeout); // writes the LVB
        await cluster[3].ConvertAsync(writer, LockMode.Exclusive, LockFlags.ValBlk).AsTask().WaitAsync(Timeout); // holds EX again
        Assert.Equal(LockMode.Exclusive, writer.Mode);

        cluster.Fail(3);
        await cluster.RecoverAsync([1, 2]);

        var (reader, result) = await cluster[2].RequestAsync(name, LockMode.ProtectedRead, LockFlags.ValBlk).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
        Assert.True(reader.StatusFlags.HasFlag(StatusBlockFlags.ValNotValid));
        _ = anchor;
    }

    [Fact]
    public async Task DirectoryRebuilt_LookupsAfterRecoveryFindSurvivingMasters()
    {
        int[] survivors = [1, 2];
        await using var cluster = new InMemoryCluster(3);
        // Node 2 masters a name whose directory node (among 1 and 2) is node 1.
        var name = NameWithDirectory(1, survivors, "dir");
        var (held, _) = await cluster[2].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        Assert.True(held.IsMasteredLocally);

        cluster.Fail(3);
        await cluster.RecoverAsync(survivors);

        var (other, result) = await cluster[1].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
        Assert.False(other.IsMasteredLocally); // node 1's rebuilt directory names node 2
        var (_, refused) = await cluster[1].RequestAsync(name, LockMode.Exclusive, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Again, refused);
    }

    [Fact]
    public async Task FailedNodeRejoins_AsNewIncarnation_AndShares()
    {
        await using var cluster = new InMemoryCluster(3);
        var name = Name("rejoin");
        var (held, _) = await cluster[3].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        cluster.Fail(3);
        await cluster.RecoverAsync([1, 2]);
        var (first, _) = await cluster[1].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);

        await cluster.RestartAsync(3);
        await cluster.RecoverAsync([1, 2, 3], renewed: [3]);

        var (_, refused) = await cluster[3].RequestAsync(name, LockMode.Exclusive, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Again, refused); // node 1's PR survived both recoveries
        var (_, shared) = await cluster[3].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, shared);
        Assert.Equal(2u, cluster[1].Generation);
        Assert.Equal(2u, cluster[3].Generation);
        _ = (held, first);
    }

    [Fact]
    public async Task Recovery_WithMemberThatNeverAnswers_IsSupersededByNewerStop()
    {
        await using var cluster = new InMemoryCluster(3);
        cluster.Fail(3);
        foreach (var id in new[] { 1, 2 })
        {
            cluster[id].Stop();
        }

        var view = new[] { new DirectoryMember(1), new DirectoryMember(2), new DirectoryMember(3) };
        var stuck = new[] { cluster[1].RecoverAsync(view), cluster[2].RecoverAsync(view) };
        Assert.All(stuck, t => Assert.False(t.IsCompleted)); // node 3 never answers STATUS

        await cluster.RecoverAsync([1, 2]); // the newer view stops both first
        Assert.All(await Task.WhenAll(stuck).WaitAsync(Timeout), Assert.False);
        Assert.All(new[] { cluster[1], cluster[2] }, e => Assert.True(e.IsRunning));
    }

    [Fact]
    public async Task RecoveryAbortedAfterItsWaitersStep_TheNextOneStillResendsThem()
    {
        // spec §5.7: step 8 clears a waiter's in-flight state as it marks it for the resend of step 14. A newer
        // stop between the two must not lose the mark, or the operation never completes.
        await using var cluster = new InMemoryCluster(3);
        var name = NameWithDirectory(2, [1, 2], "aborted/");
        await cluster[3].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 3 masters it
        var (engineLock, granted) = await cluster[1].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, granted);
        cluster.Fail(3);
        var convert = cluster[1].ConvertAsync(engineLock, LockMode.Exclusive).AsTask(); // its CONVERT to node 3 is lost

        // Recovery 1 is aborted while remastering (past step 8): node 1 asks directory node 2, whose answer is dropped.
        await AbortFirstRecoveryAsync(cluster, (to, rcom) => to == 1 && rcom.Type == RcomType.LookupReply);

        Assert.Equal(Errno.Ok, await convert.WaitAsync(Timeout)); // node 3's NL is gone: EX granted
        Assert.Equal(LockMode.Exclusive, engineLock.GrantedMode);
    }

    [Fact]
    public async Task RecoveryAbortedWhileRebuildingOnTheNewMaster_TheNextOneRebuildsAgain()
    {
        // spec §5.8: a lock sent to the new master with RCOM_LOCK whose reply never came (the master had
        // stopped for a newer view and dropped it) is sent again by the next recovery; else the new master
        // would not know it, and could grant a conflicting lock.
        await using var cluster = new InMemoryCluster(3);
        var name = NameWithDirectory(2, [1, 2], "rebuild/");
        await cluster[3].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 3 masters it
        await cluster[1].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        await cluster[2].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout);
        cluster.Fail(3);

        // Recovery 1 is aborted while rebuilding: whichever of nodes 1 and 2 becomes the new master, the other's RCOM_LOCK is dropped.
        await AbortFirstRecoveryAsync(cluster, (_, rcom) => rcom.Type == RcomType.Lock);

        var master = cluster[1].Dump().Single(r => r.Name.AsSpan().SequenceEqual(name)).Master;
        var locks = cluster[master].Dump().Single(r => r.Name.AsSpan().SequenceEqual(name)).Locks;
        Assert.Equal([(1, LockMode.ProtectedRead), (2, LockMode.Null)], locks.Select(l => (l.Node, l.Granted)).Order());
    }

    [Fact]
    public async Task RecoveryAbortedBeforeTheRebuildsReplyArrived_TheNewMasterKeepsOneCopy()
    {
        // spec §5.8: the new master made the copy but its LOCK_REPLY was lost to the abort; the next recovery
        // sends the RCOM_LOCK again, and the master answers -EEXIST with the copy it has instead of a second one.
        await using var cluster = new InMemoryCluster(3);
        var name = NameWithDirectory(2, [1, 2], "replied/");
        await cluster[3].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 3 masters it
        var (reader1, _) = await cluster[1].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        var (reader2, _) = await cluster[2].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        cluster.Fail(3);

        await AbortFirstRecoveryAsync(cluster, (_, rcom) => rcom.Type == RcomType.LockReply);

        var master = cluster[1].Dump().Single(r => r.Name.AsSpan().SequenceEqual(name)).Master;
        var locks = cluster[master].Dump().Single(r => r.Name.AsSpan().SequenceEqual(name)).Locks;
        Assert.Equal([(1, LockMode.ProtectedRead), (2, LockMode.ProtectedRead)], locks.Select(l => (l.Node, l.Granted)).Order());

        // Both owners name the copies the master has: once both unlock, an EX is granted.
        Assert.Equal(Errno.Unlocked, cluster[1].Unlock(reader1));
        Assert.Equal(Errno.Unlocked, cluster[2].Unlock(reader2));
        var (_, result) = await cluster[master == 1 ? 2 : 1].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
    }

    [Fact]
    public async Task RecoveryAbortedAfterTakingOverAResource_TheNextOneStillRecoversItsValueBlock()
    {
        // spec §5.8 finalize: a resource recovery made us master of takes its LVB from the locks rebuilt on it.
        // A newer stop before finalize leaves that owed to the next recovery (the kernel's RSB_NEW_MASTER);
        // else the next VALBLK reader would get zeros, flagged valid.
        await using var cluster = new InMemoryCluster(3);
        var name = NameWithDirectory(1, [1, 2], "value/"); // node 1 takes it over at once, on its own
        var blocker = NameWithDirectory(2, [1, 2], "blocker/"); // node 1 asks node 2 who masters it: the answer is dropped
        var (anchor, _) = await cluster[3].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 3 masters both
        var (anchor2, _) = await cluster[3].RequestAsync(blocker, LockMode.Null).AsTask().WaitAsync(Timeout);
        var (writer, _) = await cluster[1].RequestAsync(name, LockMode.Exclusive, LockFlags.ValBlk).AsTask().WaitAsync(Timeout);
        BinaryPrimitives.WriteInt64LittleEndian(writer.ValueBlock, 4242);
        Assert.Equal(Errno.Ok, await cluster[1].ConvertAsync(writer, LockMode.ProtectedRead, LockFlags.ValBlk).AsTask().WaitAsync(Timeout));
        var (held, _) = await cluster[1].RequestAsync(blocker, LockMode.Null).AsTask().WaitAsync(Timeout);
        cluster.Fail(3);

        await AbortFirstRecoveryAsync(cluster, (to, rcom) => to == 1 && rcom.Type == RcomType.LookupReply);

        var (reader, result) = await cluster[2].RequestAsync(name, LockMode.ProtectedRead, LockFlags.ValBlk).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
        Assert.Equal(4242, BinaryPrimitives.ReadInt64LittleEndian(reader.ValueBlock));
        _ = (anchor, anchor2, held);
    }

    [Fact]
    public async Task LookupAnsweredAsARequestWhileTheAskerWasStopped_OneMasterCopyAfterTheResend()
    {
        // spec §4.17: a directory node that masters the name answers a LOOKUP as a REQUEST, creating the
        // asker's master copy. When the asker had stopped meanwhile, recovery re-sends the lookup (spec §5.7,
        // the directory was rebuilt), and the master must not create a second copy for the same lock: one
        // the owner never learns of could never be unlocked.
        await using var cluster = new InMemoryCluster(2);
        var name = NameWithDirectory(2, [1, 2], "asked/");
        var (anchor, _) = await cluster[2].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 2: directory and master
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Delivering = (from, to, message) =>
        {
            if (from == 2 && to == 1 && message.Type == MessageType.RequestReply)
            {
                answered.TrySetResult();
            }
        };
        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask(); // its LOOKUP goes to node 2
        cluster[1].Stop(); // before the answer: node 1 saves it
        await answered.Task.WaitAsync(Timeout);
        cluster.Delivering = null;

        await cluster.RecoverAsync([1, 2]);
        var (held, result) = await request.WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
        Assert.Equal(Errno.Unlocked, cluster[1].Unlock(held));

        var (_, after) = await cluster[2].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, after); // granted once the unlock arrives: no copy of node 1's lock left behind
        _ = anchor;
    }

    [Fact]
    public async Task UnlockWhileStopped_IsDoneWhenRecoveryEnds()
    {
        await using var cluster = new InMemoryCluster(2);
        var name = Name("deferred");
        var (held, _) = await cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        cluster[1].Stop();
        cluster[2].Stop();

        Assert.Equal(Errno.Unlocked, cluster[1].Unlock(held));
        Assert.Equal(Errno.NoEntry, cluster[1].Unlock(held));
        var view = new[] { new DirectoryMember(1), new DirectoryMember(2) };
        await Task.WhenAll(cluster[1].RecoverAsync(view), cluster[2].RecoverAsync(view)).WaitAsync(Timeout);

        var (_, result) = await cluster[2].RequestAsync(name, LockMode.Exclusive, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
    }

    [Fact]
    public async Task ManyLocks_MasterFails_AllSurvivingLocksRebuiltAndEnforced()
    {
        await using var cluster = new InMemoryCluster(3);
        var names = Enumerable.Range(0, 300).Select(i => Name($"many/{i}")).ToArray();
        foreach (var name in names)
        {
            await cluster[3].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 3 masters all
        }

        var held = new List<EngineLock>();
        for (var i = 0; i < names.Length; i++)
        {
            var (engineLock, result) = await cluster[1 + (i % 2)].RequestAsync(names[i], LockMode.Exclusive).AsTask().WaitAsync(Timeout);
            Assert.Equal(Errno.Ok, result);
            held.Add(engineLock);
        }

        cluster.Fail(3);
        await cluster.RecoverAsync([1, 2]);

        for (var i = 0; i < names.Length; i++)
        {
            var other = cluster[2 - (i % 2)];
            var (_, result) = await other.RequestAsync(names[i], LockMode.ProtectedRead, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
            Assert.Equal(Errno.Again, result);
        }
    }

    [Fact]
    public async Task QueuedConversionAndQueuedRequest_RebuiltOnTheNewMaster_GrantedWhenTheHolderLeaves()
    {
        await using var cluster = new InMemoryCluster(3);
        var name = Name("queued");
        var (anchor, _) = await cluster[3].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 3 masters it
        var (holder, _) = await cluster[1].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        var (converter, _) = await cluster[2].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        var conversion = cluster[2].ConvertAsync(converter, LockMode.Exclusive).AsTask(); // queued behind node 1's PR
        var request = cluster[1].RequestAsync(name, LockMode.ProtectedWrite).AsTask(); // queued too
        await ProbeAsync(cluster, 1, name);
        await ProbeAsync(cluster, 2, name); // both are queued on node 3 by now
        Assert.False(conversion.IsCompleted || request.IsCompleted);

        cluster.Fail(3);
        await cluster.RecoverAsync([1, 2]);
        Assert.False(conversion.IsCompleted); // still blocked by node 1's PR on the new master
        Assert.Equal(Errno.Unlocked, cluster[1].Unlock(holder));

        Assert.Equal(Errno.Ok, await conversion.WaitAsync(Timeout)); // the conversion was rebuilt and goes first
        Assert.Equal(LockMode.Exclusive, converter.Mode);
        Assert.False(request.IsCompleted);
        Assert.Equal(Errno.Unlocked, cluster[2].Unlock(converter));
        var (writer, result) = await request.WaitAsync(Timeout);
        Assert.Equal((Errno.Ok, LockMode.ProtectedWrite), (result, writer.Mode));
        _ = anchor;
    }

    // Messages between two nodes arrive in order: once this refused NOQUEUE request is answered by the
    // master, everything `node` sent it earlier has been handled there. No sleeping.
    private static async Task ProbeAsync(InMemoryCluster cluster, int node, byte[] name)
    {
        var (_, result) = await cluster[node].RequestAsync(name, LockMode.Exclusive, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Again, result);
    }
}
