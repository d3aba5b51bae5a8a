using System.Collections.Concurrent;
using Dlm.Protocol;

namespace Dlm;

/// <summary>
/// An owner of locks in a lockspace: what the DLM calls a process (spec §4.21). When it is disposed (the
/// process "exits"), its requests in flight are cancelled, its granted PERSISTENT locks become orphans that
/// the node keeps holding, and its other locks are unlocked. Another owner adopts an orphan with
/// <see cref="AdoptOrphanAsync"/>; <see cref="Lockspace.PurgeOrphans(int)"/> unlocks orphans.
/// </summary>
public sealed class LockOwner : IAsyncDisposable
{
    private readonly Lockspace _lockspace;
    private readonly ConcurrentDictionary<LockHandle, byte> _locks = new();
    private readonly CancellationTokenSource _gone = new();
    private int _disposed;

    internal LockOwner(Lockspace lockspace, int id)
    {
        _lockspace = lockspace;
        Id = id;
    }

    /// <summary>The owner id: the pid on the wire, and what <see cref="Lockspace.PurgeOrphans(int)"/> matches.</summary>
    public int Id { get; }

    /// <summary>The locks this owner holds now.</summary>
    public IReadOnlyCollection<LockHandle> Locks => [.. _locks.Keys];

    /// <summary>As <see cref="Lockspace.LockAsync"/>, for this owner; add <see cref="LockFlags.Persistent"/> to keep the lock as an orphan when the owner goes.</summary>
    public async Task<LockHandle> LockAsync(string resource, LockMode mode, LockRequest? request = null, CancellationToken cancellationToken = default)
    {
        var handle = await RequestAsync(resource, mode, request, LockFlags.None, cancellationToken).ConfigureAwait(false);
        return handle ?? throw new LockNotAvailableException(resource, mode);
    }

    /// <summary>As <see cref="Lockspace.TryLockAsync"/>, for this owner.</summary>
    public Task<LockHandle?> TryLockAsync(string resource, LockMode mode, LockRequest? request = null, CancellationToken cancellationToken = default) =>
        RequestAsync(resource, mode, request, LockFlags.NoQueue, cancellationToken);

    /// <summary>
    /// Adopts an orphan of <paramref name="resource"/> held in <paramref name="mode"/> (an ORPHAN request, spec §4.21):
    /// the lock, with its value block, now belongs to this owner and gets <paramref name="request"/>'s blocking callback.
    /// Null when there is no orphan of the resource; <see cref="OrphanModeMismatchException"/> when its orphans hold other modes.
    /// </summary>
    public Task<LockHandle?> AdoptOrphanAsync(string resource, LockMode mode, LockRequest? request = null) =>
        RequestAsync(resource, mode, request, LockFlags.Orphan, CancellationToken.None);

    /// <summary>The owner goes away: requests in flight are cancelled, granted PERSISTENT locks become orphans, the rest are unlocked.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _gone.CancelAsync().ConfigureAwait(false);
        foreach (var handle in _locks.Keys)
        {
            _locks.TryRemove(handle, out _);
            handle.OwnerGone();
        }

        _lockspace.Closed(this);
        _gone.Dispose();
    }

    internal void Track(LockHandle handle)
    {
        _locks[handle] = 0;
        if (handle.IsReleased)
        {
            _locks.TryRemove(handle, out _); // released from its blocking callback before the grant returned
        }
        else if (Volatile.Read(ref _disposed) != 0 && _locks.TryRemove(handle, out _))
        {
            handle.OwnerGone(); // granted as the owner went
        }
    }

    internal void Untrack(LockHandle handle) => _locks.TryRemove(handle, out _);

    private async Task<LockHandle?> RequestAsync(string resource, LockMode mode, LockRequest? request, LockFlags extra, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _gone.Token);
        try
        {
            return await _lockspace.RequestAsync(resource, mode, request, extra, this, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested && Volatile.Read(ref _disposed) != 0)
        {
            throw new ObjectDisposedException($"Lock owner {Id} was disposed while its request for '{resource}' waited; the request was cancelled.", e);
        }
    }
}
