namespace Dlm.Cli.Bench;

/// <summary>
/// The timed part of a bench or demo run. It opens when the last of its workers has called
/// <see cref="Started"/> and closes <c>length</c> later, so a run measures the workers' work and
/// not the thread pool's delay in starting them. On a loaded 2-core machine that delay can be
/// longer than a short run: in CI a 0.3 s run once closed before any worker had started.
/// </summary>
internal sealed class WorkWindow(int workers, TimeSpan length, TimeProvider? time = null) : IDisposable
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly CancellationTokenSource _closed = new(Timeout.InfiniteTimeSpan, time ?? TimeProvider.System);
    private int _waiting = workers > 0 ? workers : throw new ArgumentOutOfRangeException(nameof(workers));
    private long _openedAt;

    /// <summary>Cancelled when the window closes.</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>Whether the window has opened (it stays true once closed).</summary>
    public bool HasOpened => Volatile.Read(ref _openedAt) != 0;

    /// <summary>Time since the window opened; zero before.</summary>
    public TimeSpan Elapsed => HasOpened ? _time.GetElapsedTime(Volatile.Read(ref _openedAt)) : TimeSpan.Zero;

    /// <summary>Called once by each worker as it starts; the last call opens the window.</summary>
    public void Started()
    {
        if (Interlocked.Decrement(ref _waiting) == 0)
        {
            Volatile.Write(ref _openedAt, _time.GetTimestamp());
            _closed.CancelAfter(length);
        }
    }

    /// <summary>Closes the window now (the run is being cancelled), opened or not.</summary>
    public void Close() => _closed.Cancel();

    public void Dispose() => _closed.Dispose();
}
