using System.Runtime.CompilerServices;

namespace Dlm.Core;

/// <summary>
/// The mutex of one shard. Its critical sections are short and never nest, so it needs neither
/// recursion nor owner checks: entering is one compare-exchange and leaving one exchange, about
/// half the cost of <see cref="Lock"/> here (docs/performance.md). A thread that finds it held
/// spins briefly, then sleeps until the holder leaves: the three-state mutex (free, held, held
/// with sleepers) of Drepper's "Futexes Are Tricky", with a monitor standing in for the futex.
/// Entering it again on the thread that holds it throws instead of deadlocking.
/// </summary>
internal sealed class ShardLock
{
    private const int Free = 0, Held = 1, Sleepers = 2;
    private readonly object _sleep = new();
    private int _state;
    private int _owner; // managed thread id of the holder, 0 when free: only to refuse recursion

    /// <summary>Enters the lock; dispose the result (a <c>using</c> block) to leave it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Scope EnterScope()
    {
        if (Interlocked.CompareExchange(ref _state, Held, Free) != Free)
        {
            EnterContended();
        }

        _owner = Environment.CurrentManagedThreadId;
        return new Scope(this);
    }

    /// <summary>True when a thread sleeps (or is about to) waiting for the lock.</summary>
    internal bool HasSleepers => Volatile.Read(ref _state) == Sleepers;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Exit()
    {
        _owner = 0; // before the release: a thread that reads its own id here holds the lock
        if (Interlocked.Exchange(ref _state, Free) == Sleepers)
        {
            WakeOne();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterContended()
    {
        if (Volatile.Read(ref _owner) == Environment.CurrentManagedThreadId)
        {
            throw new LockRecursionException("A shard lock was entered again by the thread that holds it: the engine never nests them; this is a bug.");
        }

        // Spin while the holder is likely running (critical sections are a few hundred nanoseconds).
        var spin = default(SpinWait);
        while (!spin.NextSpinWillYield)
        {
            spin.SpinOnce(sleep1Threshold: -1);
            if (Volatile.Read(ref _state) == Free && Interlocked.CompareExchange(ref _state, Held, Free) == Free)
            {
                return;
            }
        }

        // Then sleep. A thread that takes the lock from here leaves it marked as having sleepers
        // (it cannot know whether others still wait), so its exit wakes one.
        while (Interlocked.Exchange(ref _state, Sleepers) != Free)
        {
            try
            {
                lock (_sleep)
                {
                    while (Volatile.Read(ref _state) == Sleepers)
                    {
                        Monitor.Wait(_sleep);
                    }
                }
            }
            catch (ThreadInterruptedException)
            {
                WakeOne(); // the wake-up this thread may have taken goes to another sleeper
                throw;
            }
        }
    }

    // Pulses one sleeper. A Thread.Interrupt (which this library never calls) while waiting for the
    // monitor must not lose the wake-up: it is sent anyway, then the interruption goes on.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void WakeOne()
    {
        try
        {
            Pulse();
        }
        catch (ThreadInterruptedException)
        {
            Pulse();
            throw;
        }

        void Pulse()
        {
            lock (_sleep)
            {
                Monitor.Pulse(_sleep);
            }
        }
    }

    /// <summary>Leaves the lock when disposed.</summary>
    public readonly ref struct Scope
    {
        private readonly ShardLock _lock;

        internal Scope(ShardLock owner) => _lock = owner;

        /// <summary>Leaves the lock.</summary>
        public void Dispose() => _lock.Exit();
    }
}
