namespace Dlm.Core.Tests;

/// <summary>The shard mutex: exclusion under contention, hand-over to a sleeping thread, recursion refused.</summary>
public sealed class ShardLockTests
{
    [Fact]
    public async Task ContendingThreads_NeverOverlap()
    {
        var shardLock = new ShardLock();
        var inside = 0;
        var count = 0L;
        const int PerThread = 200_000;
        var threads = Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(() =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                using (shardLock.EnterScope())
                {
                    Assert.Equal(1, Interlocked.Increment(ref inside));
                    count++; // not atomic: only the lock keeps it exact
                    Interlocked.Decrement(ref inside);
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();

        await Task.WhenAll(threads).WaitAsync(TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.Equal(4L * PerThread, count);
    }

    [Fact]
    public async Task SleepingWaiter_GetsTheLockWhenTheHolderLeaves()
    {
        var shardLock = new ShardLock();
        var entered = false;
        Task waiter;
        using (shardLock.EnterScope())
        {
            waiter = Task.Factory.StartNew(() =>
            {
                using (shardLock.EnterScope())
                {
                    entered = true;
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

            // The waiter spins, then marks the lock as having sleepers before it sleeps.
            Assert.True(SpinWait.SpinUntil(() => shardLock.HasSleepers, TimeSpan.FromMinutes(1)));
            Assert.False(entered);
        }

        await waiter.WaitAsync(TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.True(entered);
        Assert.False(shardLock.HasSleepers);
        using (shardLock.EnterScope())
        {
        }
    }

    [Fact]
    public void EnteringAgainOnTheHoldingThread_Throws_AndTheLockStillWorks()
    {
        var shardLock = new ShardLock();
        using (shardLock.EnterScope())
        {
            Assert.Throws<LockRecursionException>(() => shardLock.EnterScope().Dispose());
        }

        using (shardLock.EnterScope())
        {
        }
    }
}
