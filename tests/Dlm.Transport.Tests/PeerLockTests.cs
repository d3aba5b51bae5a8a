using Dlm.Transport;

namespace Dlm.Transport.Tests;

/// <summary>The peer queue lock: mutual exclusion, re-entry by its owner, misuse rejected.</summary>
public sealed class PeerLockTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void EnterExit_ContendedByFourThreads_NoIncrementIsLost()
    {
        var peerLock = new PeerLock();
        const int Threads = 4, Increments = 1_000_000;
        long counter = 0;
        using var start = new Barrier(Threads); // all four run at once, not one after another
        var failures = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var threads = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            try
            {
                for (var i = 0; i < Increments; i++)
                {
                    using (peerLock.EnterScope())
                    {
                        counter++; // a plain read-modify-write: only the lock keeps it exact
                    }
                }
            }
#pragma warning disable CA1031 // recorded and asserted below: an exception escaping a thread ends the test host
            catch (Exception e)
#pragma warning restore CA1031
            {
                failures.Enqueue(e);
            }
        })).ToList();

        threads.ForEach(t => t.Start());
        Assert.All(threads, t => Assert.True(t.Join(Timeout)));

        Assert.Empty(failures);
        Assert.Equal(Threads * Increments, counter);
    }

    [Fact]
    public void Enter_WhileTheOwnerHoldsIt_BlocksUntilTheOwnerLeavesThenTakesIt()
    {
        var peerLock = new PeerLock(recheckMs: System.Threading.Timeout.Infinite); // only Exit's pulse can wake it
        peerLock.Enter();
        var taken = false;
        var waiter = new Thread(() => taken = TakeAndRelease(peerLock)) { IsBackground = true };
        waiter.Start();

        // It spins and yields a little, then blocks: the owner has not left.
        Assert.True(SpinWait.SpinUntil(() => peerLock.Blocked == 1, Timeout));
        Assert.True(waiter.IsAlive);

        peerLock.Exit(); // pulses the blocked thread
        Assert.True(waiter.Join(Timeout));
        Assert.True(taken);
        Assert.Equal(0, peerLock.Blocked);
        Assert.True(TakeAndRelease(peerLock));
    }

    [Fact]
    public void EnterExit_OwnersThatYieldInside_WaitersBlockAndNeverOverlap()
    {
        // Each owner gives up its CPU while it holds the lock, as a preempted one does, so the others
        // spin out and block, and every release must wake one of them.
        var peerLock = new PeerLock();
        const int Threads = 4, Entries = 5_000;
        int inside = 0, overlaps = 0, maxBlocked = 0;
        using var start = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < Entries; i++)
            {
                using (peerLock.EnterScope())
                {
                    if (Interlocked.Increment(ref inside) != 1)
                    {
                        Interlocked.Increment(ref overlaps);
                    }

                    Thread.Yield();
                    var blocked = peerLock.Blocked;
                    if (blocked > maxBlocked)
                    {
                        maxBlocked = blocked; // only the owner writes it
                    }

                    Interlocked.Decrement(ref inside);
                }
            }
        })).ToList();

        threads.ForEach(t => t.Start());
        Assert.All(threads, t => Assert.True(t.Join(Timeout)));

        Assert.Equal(0, overlaps);
        Assert.InRange(maxBlocked, 1, Threads - 1); // some did block
        Assert.Equal(0, peerLock.Blocked);
        Assert.True(TakeAndRelease(peerLock));
    }

    [Fact]
    public void Enter_ByItsOwnerAgain_CountsAndReleasesOnTheLastExit()
    {
        var peerLock = new PeerLock();
        peerLock.Enter();
        peerLock.Enter();
        Assert.True(peerLock.IsHeldByCurrentThread);

        peerLock.Exit();
        Assert.True(peerLock.IsHeldByCurrentThread);
        Assert.False(OnAnotherThread(() => peerLock.IsHeldByCurrentThread));

        peerLock.Exit();
        Assert.False(peerLock.IsHeldByCurrentThread);
        Assert.True(OnAnotherThread(() => TakeAndRelease(peerLock)));
    }

    [Fact]
    public void Exit_ByAThreadThatDoesNotHoldIt_ThrowsAndTheOwnerKeepsIt()
    {
        var peerLock = new PeerLock();
        Assert.Throws<SynchronizationLockException>(peerLock.Exit);

        peerLock.Enter();
        Assert.NotNull(OnAnotherThread(() => Record.Exception(peerLock.Exit) as SynchronizationLockException));
        Assert.True(peerLock.IsHeldByCurrentThread);
        peerLock.Exit();
    }

    [Fact]
    public void Scope_LeftByAnException_ReleasesTheLock()
    {
        var peerLock = new PeerLock();

        Assert.Throws<InvalidOperationException>(() => ThrowInside(peerLock));

        Assert.False(peerLock.IsHeldByCurrentThread);
        Assert.True(OnAnotherThread(() => TakeAndRelease(peerLock)));
    }

    // A dedicated thread, joined: an await could resume the test on another thread, which matters here.
    private static T OnAnotherThread<T>(Func<T> action)
    {
        T result = default!;
        var thread = new Thread(() => result = action());
        thread.Start();
        Assert.True(thread.Join(Timeout));
        return result;
    }

    private static bool TakeAndRelease(PeerLock peerLock)
    {
        using (peerLock.EnterScope())
        {
            return peerLock.IsHeldByCurrentThread;
        }
    }

    private static void ThrowInside(PeerLock peerLock)
    {
        using (peerLock.EnterScope())
        {
            throw new InvalidOperationException("inside");
        }
    }
}
