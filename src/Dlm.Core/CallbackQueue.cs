using System.Threading.Channels;
using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>
/// Delivers completions of queued operations and blocking callbacks of one lockspace, in the order
/// they were generated (spec §4.15), on one task of its own: never while engine state is locked
/// and never on an I/O thread.
/// </summary>
internal sealed class CallbackQueue : IAsyncDisposable
{
    private readonly Channel<Item> _channel = Channel.CreateUnbounded<Item>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _reader;

    public CallbackQueue() => _reader = Task.Run(ReadAsync);

    /// <summary>Failures of user blocking callbacks (they are caught so the queue keeps going).</summary>
    public long CallbackFailures;

    public void Complete(TaskCompletionSource<int> operation, int result)
    {
        if (!_channel.Writer.TryWrite(new Item(null, operation, result, LockMode.Invalid)))
        {
            operation.TrySetResult(result); // the lockspace is closing: the waiting call still gets its answer
        }
    }

    public void Blocking(EngineLock lkb, LockMode mode) => _channel.Writer.TryWrite(new Item(lkb, null, 0, mode));

    public async ValueTask DisposeAsync()
    {
        _channel.Writer.TryComplete();
        await _reader.ConfigureAwait(false);
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
