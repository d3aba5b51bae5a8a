using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>
/// Overlapping operations across recovery (spec §4.19, §5.7): a LOOKUP answered as a REQUEST while the asker was
/// stopped, a CANCEL or FORCEUNLOCK lost with its master or asked for between enabling locking and the resend,
/// unlocks while stopped, and an engine fenced or disposed with calls still waiting.
/// </summary>
public sealed partial class RecoveryTests
{
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
        var (request, waiting) = await RequestQueuedOnAsync(cluster, 2, name);
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
    public async Task CompletionOfAStep8Cancel_HeldUntilLockingIsEnabled()
    {
        // spec §4.15: from the start of recovery until it is done, callbacks are held, then released in order. A cancel
        // lost with its master ends at step 8 (-DLM_ECANCEL); its caller hears of it once locking is enabled again.
        await using var cluster = new InMemoryCluster(3);
        var name = NameWithDirectory(2, [1, 2, 3], "held/");
        await cluster[3].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout); // node 3 masters and holds it
        var (request, waiting) = await RequestQueuedOnAsync(cluster, 3, name);
        cluster.Fail(3);
        Assert.Equal(Errno.InProgress, cluster[1].Cancel(waiting)); // the CANCEL is lost with node 3

        var seen = new TaskCompletionSource<(bool Completed, int Held)>(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Drop = (from, _, _) =>
        {
            if (from == 1 && (cluster[1].Status & RecoveryStatus.Locks) != 0 && !cluster[1].IsRunning)
            {
                seen.TrySetResult((request.IsCompleted, cluster[1].HeldCallbacks)); // past step 8, not done yet
            }

            return false;
        };
        await cluster.RecoverAsync([1, 2]);

        Assert.Equal((false, 1), await seen.Task.WaitAsync(Timeout));
        Assert.Equal(Errno.Cancelled, (await request.WaitAsync(Timeout)).Result);
        Assert.Equal(0, cluster[1].HeldCallbacks);
    }

    // Node 1 asks for EX on a name node `master` masters and holds; returns as the master's REQUEST_REPLY ("queued")
    // is about to be delivered, with the request's task and node 1's lock, still waiting.
    private static async Task<(Task<(EngineLock Lock, int Result)> Request, EngineLock Waiting)> RequestQueuedOnAsync(
        InMemoryCluster cluster, int master, byte[] name)
    {
        var queued = new TaskCompletionSource<EngineLock>(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Delivering = (from, to, message) =>
        {
            if (from == master && to == 1 && message.Type == MessageType.RequestReply)
            {
                queued.TrySetResult(cluster[1].OwnLock(message.RemoteId)!);
            }
        };
        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask();
        var waiting = await queued.Task.WaitAsync(Timeout);
        cluster.Delivering = null;
        return (request, waiting);
    }
}
