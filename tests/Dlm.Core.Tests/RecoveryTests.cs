using System.Buffers.Binary;
using System.Text;
using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>Recovery after membership changes (spec §5), over the in-memory network with real RCOM traffic.</summary>
public sealed class RecoveryTests
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
    public async Task LookupAnsweredAsARequest_CancelledWhileTheAskerWasStopped_TheMastersCopyIsCancelledToo()
    {
        // spec §4.17, §4.19, §5.7: the directory node masters the name and answers the LOOKUP as a REQUEST ("queued"),
        // so the master already holds a copy. The asker cancels and stops before that answer: the answer is saved,
        // and replayed after recovery, where it sends the CANCEL (as the kernel, whose lkb stays a waiter). Before,
        // step 8 completed the cancel locally and dropped the saved answer: the master's copy stayed for ever and,
        // once granted, blocked the resource.
        await using var cluster = new InMemoryCluster(2);
        var name = NameWithDirectory(2, [1, 2], "cancelled/");
        var (anchor, _) = await cluster[2].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout); // node 2: directory and master
        var cancelled = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Delivering = (from, to, message) =>
        {
            if (from == 2 && to == 1 && message.Type == MessageType.RequestReply)
            {
                cancelled.TrySetResult(cluster[1].Cancel(cluster[1].OwnLock(message.RemoteId)!)); // waits for this answer
                cluster[1].Stop(); // the answer is saved, the cancel remembered
            }
        };
        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask();
        Assert.Equal(Errno.InProgress, await cancelled.Task.WaitAsync(Timeout));
        cluster.Delivering = null;

        await cluster.RecoverAsync([1, 2]);
        Assert.Equal(Errno.Cancelled, (await request.WaitAsync(Timeout)).Result);
        Assert.Equal(Errno.Unlocked, cluster[2].Unlock(anchor));
        var (_, after) = await cluster[2].RequestAsync(name, LockMode.Exclusive, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, after); // node 1's copy went with the cancel
    }

    [Fact]
    public async Task LookupAnsweredAsARequest_DirectoryMovesWhileTheAskerWasStopped_OneMasterCopy()
    {
        // As above without the cancel, in a view where the name's directory moves to another node: the saved answer
        // (granted) is replayed and the request completes with it. Before, it was dropped and the request re-sent as
        // a plain REQUEST to the same master, which made a second copy behind the first (granted, never unlocked):
        // the request never completed.
        await using var cluster = new InMemoryCluster(3);
        var name = Enumerable.Range(0, 10_000).Select(i => Name($"moved/{i}")).First(n =>
            new DirectoryNodes([new(1), new(2), new(3)]).NodeFor(ResourceHash.Compute(n)) == 2
            && new DirectoryNodes([new(1), new(2)]).NodeFor(ResourceHash.Compute(n)) == 1);
        var (anchor, _) = await cluster[2].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 2: directory and master
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Delivering = (from, to, message) =>
        {
            if (from == 2 && to == 1 && message.Type == MessageType.RequestReply)
            {
                cluster[1].Stop(); // node 2, directory and now master, granted it: the answer is saved
                answered.TrySetResult();
            }
        };
        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask();
        await answered.Task.WaitAsync(Timeout);
        cluster.Delivering = null;
        cluster.Fail(3);

        await cluster.RecoverAsync([1, 2]);
        var (held, result) = await request.WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
        Assert.Equal(Errno.Unlocked, cluster[1].Unlock(held));
        var (_, after) = await cluster[2].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, after); // granted once the unlock arrives: no second copy of node 1's lock left behind
        _ = anchor;
    }

    [Fact]
    public async Task CancelReleasedByAQueuedReply_LostWithTheMaster_TheRequestEndsCancelled()
    {
        // spec §4.19: a cancel issued while the request is on its way waits for the reply, and a reply saying
        // "queued" sends it. If the master fails before its CANCEL_REPLY, recovery finishes the cancel
        // (spec §5.7 step 8) as for any cancel in flight. Before, that CANCEL was not marked as sent, so the
        // request was rebuilt on the new master and granted to a caller who had cancelled it.
        await using var cluster = new InMemoryCluster(3);
        var name = Name("cancel-lost");
        await cluster[3].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout); // node 3 masters and holds it
        var cancelled = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Delivering = (from, to, message) =>
        {
            if (from == 3 && to == 1 && message.Type == MessageType.RequestReply)
            {
                cancelled.TrySetResult(cluster[1].Cancel(cluster[1].OwnLock(message.RemoteId)!)); // waits for this reply
                cluster.Fail(3); // the CANCEL this reply releases is lost with node 3
            }
        };
        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask();
        Assert.Equal(Errno.InProgress, await cancelled.Task.WaitAsync(Timeout));
        cluster.Delivering = null;

        await cluster.RecoverAsync([1, 2]);
        var (_, result) = await request.WaitAsync(Timeout);
        Assert.Equal(Errno.Cancelled, result);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task CancelOrUnlockBetweenEnablingLockingAndTheResend_TheRequestEndsWithIt(bool forceUnlock)
    {
        // spec §5.7 step 14, §4.19: a request whose master failed is marked for resend. A cancel (or FORCEUNLOCK) that
        // comes once locking is enabled, before step 14 re-sends it, must win as it would against a reply in flight.
        // Before, the lock looked idle then: the cancel found nothing to cancel, and step 14 requested it again.
        await using var cluster = new InMemoryCluster(3);
        var name = NameWithDirectory(2, [1, 2, 3], "window/");
        await cluster[3].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout); // node 3 masters and holds it
        var sent = new TaskCompletionSource<EngineLock>(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Delivering = (from, to, message) =>
        {
            if (from == 1 && to == 3 && message.Type == MessageType.Request)
            {
                cluster.Fail(3); // the REQUEST's answer is lost with node 3
                sent.TrySetResult(cluster[1].OwnLock(message.LockId)!);
            }
        };
        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask();
        var waiting = await sent.Task.WaitAsync(Timeout);
        cluster.Delivering = null;
        var asked = int.MinValue;
        cluster[1].BeforeResend = () => asked = forceUnlock ? cluster[1].Unlock(waiting, LockFlags.ForceUnlock) : cluster[1].Cancel(waiting);

        await cluster.RecoverAsync([1, 2]);
        Assert.Equal(forceUnlock ? Errno.Ok : Errno.InProgress, asked);
        Assert.Equal(forceUnlock ? Errno.Unlocked : Errno.Cancelled, (await request.WaitAsync(Timeout)).Result);
        var (_, after) = await cluster[2].RequestAsync(name, LockMode.Exclusive, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, after); // nothing of node 1's request was left anywhere
    }

    [Fact]
    public async Task UnlockWhileStopped_RequestInFlight_IsBusyAtOnce()
    {
        // An unlock without FORCEUNLOCK of a lock whose request is in flight is -EBUSY (spec §4.9), stopped or not.
        // Before, while stopped it was deferred and reported done (-DLM_EUNLOCK), then failed with -EBUSY after
        // recovery and was dropped: the caller believed the lock gone, and every later unlock got -ENOENT.
        await using var cluster = new InMemoryCluster(2);
        var name = Name("busy-stopped");
        var (holder, _) = await cluster[2].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        var queued = new TaskCompletionSource<EngineLock>(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Delivering = (from, to, message) =>
        {
            if (from == 2 && to == 1 && message.Type == MessageType.RequestReply)
            {
                queued.TrySetResult(cluster[1].OwnLock(message.RemoteId)!);
            }
        };
        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask();
        var waiting = await queued.Task.WaitAsync(Timeout);
        cluster.Delivering = null;
        cluster[1].Stop();
        cluster[2].Stop();

        Assert.Equal(Errno.Busy, cluster[1].Unlock(waiting));
        await cluster.RecoverAsync([1, 2]);
        Assert.Equal(Errno.Unlocked, cluster[2].Unlock(holder));
        var (granted, result) = await request.WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
        Assert.Equal(Errno.Unlocked, cluster[1].Unlock(granted)); // still the caller's to unlock
    }

    [Fact]
    public async Task UnlockedWhileStopped_AConversionWaitingForRecovery_IsRefusedNotRun()
    {
        // An unlock while stopped is reported done (-DLM_EUNLOCK) and runs when recovery ends. A conversion that was
        // waiting for recovery on the same lock must not run first: it would make the deferred unlock fail (-EBUSY)
        // and be dropped, and the caller, told the lock was gone, would leave it held on its master.
        await using var cluster = new InMemoryCluster(2);
        var name = NameWithDirectory(2, [1, 2], "unlocked-stopped/");
        await cluster[2].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // node 2 masters it
        var (held, _) = await cluster[1].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        cluster[1].Stop();
        cluster[2].Stop();
        var convert = cluster[1].ConvertAsync(held, LockMode.Exclusive).AsTask(); // waits for recovery
        Assert.Equal(Errno.Unlocked, cluster[1].Unlock(held)); // deferred

        var view = new[] { new DirectoryMember(1), new DirectoryMember(2) };
        await Task.WhenAll(cluster[1].RecoverAsync(view), cluster[2].RecoverAsync(view)).WaitAsync(Timeout);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => convert.WaitAsync(Timeout));
        var (_, after) = await cluster[2].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, after); // node 1's lock is gone from its master
    }

    [Fact]
    public async Task ForceUnlockAfterACancel_BothWaitingForTheAnswer_TheUnlockWins()
    {
        // spec §4.19: a cancel and then a FORCEUNLOCK of a request with no answer yet: the unlock is remembered with the
        // cancel (the kernel keeps both), not refused with -EBUSY, and the request ends with -DLM_EUNLOCK.
        await using var cluster = new InMemoryCluster(2);
        var name = NameWithDirectory(1, [1, 2], "cancel-then-unlock/");
        var (holder, _) = await cluster[2].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout); // node 2 masters it
        var asked = new TaskCompletionSource<(int Cancel, int Unlock)>(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Delivering = (from, to, message) =>
        {
            if (from == 2 && to == 1 && message.Type == MessageType.RequestReply)
            {
                var waiting = cluster[1].OwnLock(message.RemoteId)!;
                asked.TrySetResult((cluster[1].Cancel(waiting), cluster[1].Unlock(waiting, LockFlags.ForceUnlock)));
            }
        };
        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask();
        Assert.Equal((Errno.InProgress, Errno.Ok), await asked.Task.WaitAsync(Timeout));
        cluster.Delivering = null;

        Assert.Equal(Errno.Unlocked, (await request.WaitAsync(Timeout)).Result);
        Assert.Equal(Errno.Unlocked, cluster[2].Unlock(holder));
        var (_, after) = await cluster[2].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, after); // node 1's copy was unlocked on its master
    }

    [Fact]
    public async Task FencedBetweenEnablingLockingAndTheResend_AWaiterBehindALookupFails()
    {
        // A request queued behind another request's LOOKUP is, after step 8, only in the resend list. Fencing (or
        // disposing) the engine then must still end it; before, it waited for ever. The stop also ends step 14:
        // nothing is re-sent while stopped, and the recovery reports itself superseded.
        await using var cluster = new InMemoryCluster(3);
        var name = NameWithDirectory(3, [1, 2, 3], "fenced-window/");
        var lookup = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Delivering = (from, to, message) =>
        {
            if (from == 1 && to == 3 && message.Type == MessageType.Lookup)
            {
                cluster.Fail(3); // its answer is lost with node 3
                lookup.TrySetResult();
            }
        };
        var first = cluster[1].RequestAsync(name, LockMode.ProtectedRead).AsTask();
        await lookup.Task.WaitAsync(Timeout);
        cluster.Delivering = null;
        var second = cluster[1].RequestAsync(name, LockMode.ProtectedRead).AsTask(); // waits behind the first's LOOKUP
        cluster[1].BeforeResend = cluster[1].Fence;
        cluster[1].Stop();
        cluster[2].Stop();

        var view = new[] { new DirectoryMember(1), new DirectoryMember(2) };
        var two = cluster[2].RecoverAsync(view);
        Assert.False(await cluster[1].RecoverAsync(view).WaitAsync(Timeout)); // superseded by its own fence
        cluster[2].Stop(); // as the view without node 1 would
        await two.WaitAsync(Timeout);
        await Assert.ThrowsAsync<DlmException>(() => first.WaitAsync(Timeout));
        await Assert.ThrowsAsync<DlmException>(() => second.WaitAsync(Timeout));
    }

    [Fact]
    public async Task EngineDisposed_ARequestStillWaiting_EndsWithObjectDisposed()
    {
        // Disposing an engine (leaving the lockspace) must not leave a caller waiting for ever for a grant that
        // can no longer come.
        await using var cluster = new InMemoryCluster(2);
        var name = Name("disposed");
        await cluster[2].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        var queued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Delivering = (from, to, message) =>
        {
            if (from == 2 && to == 1 && message.Type == MessageType.RequestReply)
            {
                queued.TrySetResult();
            }
        };
        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask();
        await queued.Task.WaitAsync(Timeout);
        var old = cluster[1];

        await cluster.RestartAsync(1); // disposes node 1's engine
        await Assert.ThrowsAsync<ObjectDisposedException>(() => request.WaitAsync(Timeout));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => old.RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout));
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
