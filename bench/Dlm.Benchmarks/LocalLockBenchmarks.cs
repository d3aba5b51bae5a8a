using BenchmarkDotNet.Attributes;
using Dlm.Core;
using Dlm.Protocol;

namespace Dlm.Benchmarks;

/// <summary>
/// A locally mastered, uncontended lock + unlock against a SemaphoreSlim wait + release measured
/// in the same run (targets: ≤ 1 µs, ≤ 2× the semaphore, ≤ 1 allocation per pair), and the bytes
/// one held lock costs (target ≤ 300 B).
/// </summary>
[MemoryDiagnoser]
public class LocalLockBenchmarks
{
    private readonly SemaphoreSlim _semaphore = new(1, 1);
    private readonly byte[] _name = "customer/000042"u8.ToArray();
    private byte[][] _names = [];
    private LockspaceEngine _engine = null!;

    [GlobalSetup]
    public void Setup()
    {
        _engine = new LockspaceEngine("bench", 32);
        _names = Enumerable.Range(0, HeldLocks).Select(i => System.Text.Encoding.ASCII.GetBytes($"resource/{i:D8}")).ToArray();
    }

    [GlobalCleanup]
    public void Cleanup() => _engine.DisposeAsync().AsTask().GetAwaiter().GetResult();

    public static int HeldLocks => 10_000;

    [Benchmark(Baseline = true)]
    public async Task SemaphoreWaitRelease()
    {
        await _semaphore.WaitAsync().ConfigureAwait(false);
        _semaphore.Release();
    }

    [Benchmark]
    public async Task LockUnlock()
    {
        var (held, _) = await _engine.RequestAsync(_name, LockMode.Exclusive).ConfigureAwait(false);
        _engine.Unlock(held);
    }

    /// <summary>Divide the allocated bytes by <see cref="HeldLocks"/> for the bytes per granted lock (its resource included).</summary>
    [Benchmark(OperationsPerInvoke = 10_000)]
    public async Task HoldTenThousandLocks()
    {
        var held = new EngineLock[HeldLocks];
        for (var i = 0; i < held.Length; i++)
        {
            (held[i], _) = await _engine.RequestAsync(_names[i], LockMode.ProtectedRead).ConfigureAwait(false);
        }

        foreach (var h in held)
        {
            _engine.Unlock(h);
        }
    }
}
