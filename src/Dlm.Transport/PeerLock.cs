using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Dlm.Transport;

/// <summary>
/// A peer's queue lock (<see cref="PeerConnection.SyncRoot"/>): one atomic instruction to take it and a
/// plain store to release it when nobody waits, where <see cref="Lock"/> costs two atomics.
/// Every message sent takes it once, so the second atomic was a fixed cost per message (see
/// docs/performance.md). Critical sections under it are short and never wait for I/O. A thread that
/// finds it held spins and yields a few times, for the owner is usually running on another core and
/// leaves within a microsecond. Then it blocks until the owner leaves and wakes it: by then the owner
/// has most likely been preempted inside, and spinning would take the CPU it needs. (It used to sleep
/// 1 ms at a time instead, which on two cores stalled both nodes' pipelines; docs/performance.md.)
/// The owner may take it again (it counts).
/// </summary>
[StructLayout(LayoutKind.Explicit)]
public sealed class PeerLock
{
    // The lock word is the owner's managed thread id, 0 when free. Every sender, the send loop and the
    // receive thread write it, so it gets a cache line to itself: the 64 bytes before and after it hold
    // nothing written after construction. (With a heap neighbour that another thread wrote, perf once put
    // a third of a sender's time in taking the uncontended lock.)
    [FieldOffset(64)]
    private int _owner;

    [FieldOffset(68)]
    private int _recursion; // written by the owner only

    // Threads blocked (or about to block) in EnterContended. On the owner's line: Exit reads it right
    // after its release store, and the line is in its cache already.
    [FieldOffset(72)]
    private int _blocked;

    [FieldOffset(136)]
    private long _end;

    // Blocked threads wait on it (Monitor), the leaving owner pulses it. Never written after construction.
    [FieldOffset(0)]
    private readonly object _gate = new();

    // Spins and yields before a thread blocks (SpinWait: the first ten spin, the rest yield the CPU).
    private const int SpinsBeforeBlocking = 20;

    // A blocked thread looks again after this long even without a pulse: Exit's read of _blocked may be
    // satisfied before its release store is seen (x64 lets a load pass an earlier store), so a thread
    // that blocks in that instant is not pulsed. The window is a few instructions wide.
    [FieldOffset(8)]
    private readonly int _recheckMs;

    /// <summary>Creates a free lock.</summary>
    public PeerLock()
        : this(recheckMs: 1)
    {
    }

    /// <summary>A lock whose blocked threads look again every <paramref name="recheckMs"/> (tests: infinite, to prove the pulse).</summary>
    internal PeerLock(int recheckMs) => _recheckMs = recheckMs;

    [ThreadStatic]
    private static int t_self; // this thread's managed id, cached: the runtime's own read was a call into TLS code

    /// <summary>True if the calling thread holds the lock.</summary>
    public bool IsHeldByCurrentThread => Volatile.Read(ref _owner) == Self;

    /// <summary>Threads blocked waiting for the lock (for tests).</summary>
    internal int Blocked => Volatile.Read(ref _blocked);

    /// <summary>Takes the lock, waiting while another thread holds it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Enter()
    {
        var self = Self;
        if (Interlocked.CompareExchange(ref _owner, self, 0) != 0)
        {
            EnterContended(self);
        }
    }

    /// <summary>Releases the lock; throws if the calling thread does not hold it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Exit()
    {
        if (_owner != Self)
        {
            ThrowNotOwner();
        }

        if (_recursion != 0)
        {
            _recursion--;
            return;
        }

        // A release store (a plain mov on x64): no access in the critical section moves after it.
        Volatile.Write(ref _owner, 0);
        if (Volatile.Read(ref _blocked) != 0)
        {
            PulseBlocked();
        }
    }

    /// <summary>Takes the lock until the returned scope is disposed: <c>using (x.EnterScope()) { ... }</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Scope EnterScope()
    {
        Enter();
        return new Scope(this);
    }

    private static int Self
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            var self = t_self;
            return self != 0 ? self : t_self = Environment.CurrentManagedThreadId;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterContended(int self)
    {
        if (Volatile.Read(ref _owner) == self)
        {
            _recursion++;
            return;
        }

        var spinner = default(SpinWait);
        while (spinner.Count < SpinsBeforeBlocking)
        {
            spinner.SpinOnce(sleep1Threshold: -1);
            if (TryTake(self))
            {
                return;
            }
        }

        // The owner is probably preempted: block until it leaves. Exit pulses the gate after its release
        // store when it sees us counted. We look at _owner under the gate before we wait, so a release
        // before that look lets us take the lock at once, and one after it pulses us while we wait.
        Interlocked.Increment(ref _blocked);
        try
        {
            while (!TryTake(self))
            {
                lock (_gate)
                {
                    if (Volatile.Read(ref _owner) != 0)
                    {
                        Monitor.Wait(_gate, _recheckMs);
                    }
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref _blocked);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TryTake(int self) => Volatile.Read(ref _owner) == 0 && Interlocked.CompareExchange(ref _owner, self, 0) == 0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PulseBlocked()
    {
        lock (_gate)
        {
            Monitor.Pulse(_gate);
        }
    }

    [DoesNotReturn]
    private static void ThrowNotOwner() =>
        throw new SynchronizationLockException("The peer lock is released by a thread that does not hold it.");

    /// <summary>Holds the lock until disposed.</summary>
    public readonly ref struct Scope
    {
        private readonly PeerLock _lock;

        internal Scope(PeerLock owner) => _lock = owner;

        /// <summary>Releases the lock.</summary>
        public void Dispose() => _lock.Exit();
    }
}
