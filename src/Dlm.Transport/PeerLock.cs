using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Dlm.Transport;

/// <summary>
/// A peer's queue lock (<see cref="PeerConnection.SyncRoot"/>): a spin lock that costs one atomic
/// instruction to take and a plain store to release, where <see cref="Lock"/> costs two atomics.
/// Every message sent takes it once, so the second atomic was a fixed cost per message (see
/// docs/performance.md). Critical sections under it are short and never wait for I/O; a thread that
/// finds it held spins, then yields, then sleeps 1 ms at a time (<see cref="SpinWait"/>), like the
/// kernel's spin lock on a midcomms send queue. The owner may take it again (it counts).
/// </summary>
[StructLayout(LayoutKind.Explicit)]
public sealed class PeerLock
{
    // The lock word is the owner's managed thread id, 0 when free. Every sender, the send loop and the
    // receive thread write it, so it gets a cache line to itself: the 64 bytes before and after it hold
    // nothing. (With a heap neighbour that another thread wrote, perf once put a third of a sender's time
    // in taking the uncontended lock.)
    [FieldOffset(64)]
    private int _owner;

    [FieldOffset(68)]
    private int _recursion; // written by the owner only

    [FieldOffset(136)]
    private long _end;

    [ThreadStatic]
    private static int t_self; // this thread's managed id, cached: the runtime's own read was a call into TLS code

    /// <summary>True if the calling thread holds the lock.</summary>
    public bool IsHeldByCurrentThread => Volatile.Read(ref _owner) == Self;

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
        do
        {
            spinner.SpinOnce();
        }
        while (Volatile.Read(ref _owner) != 0 || Interlocked.CompareExchange(ref _owner, self, 0) != 0);
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
