using System.Threading.Channels;
using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>
/// Delivers completions of queued operations and blocking callbacks of one lockspace, in the order
/// they were generated (spec §4.15), on one task of its own: never while engine state is locked
/// and never on an I/O thread. While held (recovery, from the stop until locking is enabled again,
/// spec §4.15) they wait, in order, and go when released.
/// </summary>
internal sealed class CallbackQueue : IAsyncDisposable
{
    private readonly Channel<Item> _channel = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _reader;
    private readonly Lock _hold = new(); // orders held items before anything queued after the release
    private List<Item>? _held;           // non-null while held

    public CallbackQueue() => _reader = Task.Run(ReadAsync);

    /// <summary>Failures of user blocking callbacks (they are caught so the queue keeps going).</summary>
    public long CallbackFailures;

    /// <summary>Callbacks waiting for <see cref="Release"/> (tests and diagnostics).</summary>
    public int HeldCount
    {
        get
        {
            using (_hold.EnterScope())
            {
                return _held?.Count ?? 0;
            }
        }
    }

    public void Complete(TaskCompletionSource<int> operation, int result)
    {
        if (!Enqueue(new Item(null, operation, result, LockMode.Invalid)))
        {
            operation.TrySetResult(result); // the lockspace is closing: the waiting call still gets its answer
        }
    }

    public void Blocking(EngineLock lkb, LockMode mode) => Enqueue(new Item(lkb, null, 0, mode));

    /// <summary>From now on callbacks wait for <see cref="Release"/> (idempotent).</summary>
    public void Hold()
    {
        using (_hold.EnterScope())
        {
            _held ??= [];
        }
    }

    /// <summary>The callbacks held go, in the order they were generated, before any generated after.</summary>
    public void Release()
    {
        using (_hold.EnterScope())
        {
            if (_held is not { } held)
            {
                return;
            }

            foreach (var item in held)
            {
                if (!_channel.Writer.TryWrite(item))
                {
                    item.Operation?.TrySetResult(item.Result);
                }
            }

            Volatile.Write(ref _held, null); // after the writes: see Enqueue
        }
    }

    public async ValueTask DisposeAsync()
    {
        Release();
        _channel.Writer.TryComplete();
        await _reader.ConfigureAwait(false);
    }

    // Not held (the usual case): straight into the channel, no lock. Release empties the list into the channel
    // before it clears the field, so whoever sees it cleared comes after every held item. A callback racing a Hold
    // may still go at once: it belongs to an operation that saw the lockspace running.
    private bool Enqueue(Item item)
    {
        if (Volatile.Read(ref _held) is null)
        {
            return _channel.Writer.TryWrite(item);
        }

        using (_hold.EnterScope())
        {
            if (_held is { } held)
            {
                held.Add(item);
                return true;
            }

            return _channel.Writer.TryWrite(item);
        }
    }

    private async Task ReadAsync()
    {
        await foreach (var item in _channel.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (item.Operation is not null)
            {
                item.Operation.TrySetResult(item.Result);
                continue;
            }

            try
            {
                if (!item.Lock!.IsOrphan) // an orphan's owner is gone; its adopter gets later BASTs (spec §4.21)
                {
                    item.Lock.Blocking?.Invoke(item.Lock, item.BastMode);
                }
            }
#pragma warning disable CA1031 // a failing user callback must not stop the delivery of everyone else's
            catch (Exception)
#pragma warning restore CA1031
            {
                Interlocked.Increment(ref CallbackFailures);
            }
        }
    }

    private readonly record struct Item(EngineLock? Lock, TaskCompletionSource<int>? Operation, int Result, LockMode BastMode);
}
