using System.Buffers.Binary;
using Dlm.Protocol;

namespace Dlm.Core.Tests;

public sealed class LockspaceEngineTests
{
    [Fact]
    public async Task LockIds_ThroughTheCounterWrap_NeverZeroAndNeverShared()
    {
        // Shards take ids in blocks from one engine counter (spec §1.11: ids ≥ 1, unique on the node).
        await using var engine = new LockspaceEngine("test", 0, shardCount: 4);
        typeof(LockspaceEngine).GetField("_lastLockId", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!
            .SetValue(engine, -100); // 100 ids before the uint counter wraps
        var held = new List<EngineLock>();
        for (var i = 0; i < 1_000; i++)
        {
            var (engineLock, result) = await engine.RequestAsync(System.Text.Encoding.ASCII.GetBytes($"r{i}"), LockMode.Null);
            Assert.Equal(0, result);
            held.Add(engineLock);
        }

        Assert.DoesNotContain(held, l => l.Id == 0);
        Assert.Equal(held.Count, held.Select(l => l.Id).Distinct().Count());
        Assert.Contains(held, l => l.Id > 0xFFFF_FF00); // ids from before the wrap were handed out too
    }

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly byte[] Name = "customer/42"u8.ToArray();

    [Fact]
    public async Task Request_Uncontended_GrantedAndUnlockedLeavesNoResource()
    {
        await using var engine = new LockspaceEngine("test", 32);
        var (held, result) = await engine.RequestAsync(Name, LockMode.Exclusive);
        Assert.Equal(Errno.Ok, result);
        Assert.Equal(LockMode.Exclusive, held.Mode);
        Assert.True(held.Id >= 1);
        Assert.Equal(1, engine.ResourceCount);

        Assert.Equal(Errno.Unlocked, engine.Unlock(held));
        Assert.Equal(0, engine.ResourceCount);
        Assert.Equal(Errno.NoEntry, engine.Unlock(held));
    }

    [Fact]
    public async Task Request_Conflicting_HolderGetsBlockingCallbackAndWaiterIsGrantedAfterUnlock()
    {
        await using var engine = new LockspaceEngine("test", 32);
        var bast = new TaskCompletionSource<LockMode>(TaskCreationOptions.RunContinuationsAsynchronously);
        var (holder, _) = await engine.RequestAsync(Name, LockMode.Exclusive, blocking: (_, mode) => bast.TrySetResult(mode));

        var waiter = engine.RequestAsync(Name, LockMode.ProtectedRead).AsTask();
        Assert.Equal(LockMode.ProtectedRead, await bast.Task.WaitAsync(Timeout));
        Assert.False(waiter.IsCompleted);

        engine.Unlock(holder);
        var (reader, result) = await waiter.WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
        Assert.Equal(LockMode.ProtectedRead, reader.Mode);
    }

    [Fact]
    public async Task Request_NoQueueConflict_AgainAndNotHeld()
    {
        await using var engine = new LockspaceEngine("test", 0);
        await engine.RequestAsync(Name, LockMode.ProtectedWrite);
        var (refused, result) = await engine.RequestAsync(Name, LockMode.ProtectedRead, LockFlags.NoQueue);
        Assert.Equal(Errno.Again, result);
        Assert.Equal(Errno.NoEntry, engine.Unlock(refused));
    }

    [Fact]
    public async Task Request_CancelledWhileWaiting_EndsWithCancelAndIsNotHeld()
    {
        await using var engine = new LockspaceEngine("test", 0);
        var (holder, _) = await engine.RequestAsync(Name, LockMode.Exclusive);
        using var cts = new CancellationTokenSource();
        var waiter = engine.RequestAsync(Name, LockMode.Exclusive, cancellationToken: cts.Token).AsTask();
        await cts.CancelAsync();
        var (cancelled, result) = await waiter.WaitAsync(Timeout);
        Assert.Equal(Errno.Cancelled, result);
        Assert.Equal(Errno.NoEntry, engine.Unlock(cancelled));
        Assert.Equal(LockMode.Exclusive, holder.Mode);
    }

    [Fact]
    public async Task Convert_UpWhileOtherReaderHolds_QueuedUntilItLeaves_DownIsImmediate()
    {
        await using var engine = new LockspaceEngine("test", 0);
        var bast = new TaskCompletionSource<LockMode>(TaskCreationOptions.RunContinuationsAsynchronously);
        var (first, _) = await engine.RequestAsync(Name, LockMode.ProtectedRead, blocking: (_, m) => bast.TrySetResult(m));
        var (second, _) = await engine.RequestAsync(Name, LockMode.ProtectedRead);

        var up = engine.ConvertAsync(second, LockMode.Exclusive).AsTask();
        Assert.Equal(LockMode.Exclusive, await bast.Task.WaitAsync(Timeout));
        Assert.Equal(Errno.Busy, await engine.ConvertAsync(second, LockMode.Null));
        Assert.Equal(Errno.Busy, engine.Unlock(second));
        engine.Unlock(first);
        Assert.Equal(Errno.Ok, await up.WaitAsync(Timeout));
        Assert.Equal(LockMode.Exclusive, second.Mode);

        Assert.Equal(Errno.Ok, await engine.ConvertAsync(second, LockMode.Null));
        Assert.Equal(LockMode.Null, second.Mode);
    }

    [Fact]
    public async Task Unlock_ForceWhileConverting_WaitEndsWithUnlockAndOthersProceed()
    {
        await using var engine = new LockspaceEngine("test", 0);
        var (reader, _) = await engine.RequestAsync(Name, LockMode.ProtectedRead);
        var (converter, _) = await engine.RequestAsync(Name, LockMode.ProtectedRead);
        var up = engine.ConvertAsync(converter, LockMode.Exclusive).AsTask();
        Assert.False(up.IsCompleted);

        Assert.Equal(Errno.Unlocked, engine.Unlock(converter, LockFlags.ForceUnlock));
        Assert.Equal(Errno.Unlocked, await up.WaitAsync(Timeout));
        var (writer, result) = await engine.RequestAsync(Name, LockMode.ProtectedRead);
        Assert.Equal(Errno.Ok, result);
        _ = (reader, writer);
    }

    [Fact]
    public async Task Request_ExpediteNull_GrantedAheadOfQueue()
    {
        await using var engine = new LockspaceEngine("test", 0);
        await engine.RequestAsync(Name, LockMode.Exclusive);
        var queued = engine.RequestAsync(Name, LockMode.Exclusive).AsTask();
        var (expedited, result) = await engine.RequestAsync(Name, LockMode.Null, LockFlags.Expedite);
        Assert.Equal(Errno.Ok, result); // spec §4.7 rule 1
        Assert.Equal(LockMode.Null, expedited.Mode);
        Assert.False(queued.IsCompleted);
    }

    [Theory]
    [InlineData(LockMode.Invalid, LockFlags.None)]
    [InlineData(LockMode.Exclusive, LockFlags.QueCvt)]
    [InlineData(LockMode.Exclusive, LockFlags.Timeout)]
    public async Task Request_InvalidArguments_ThrowWithAdvice(LockMode mode, LockFlags flags)
    {
        await using var engine = new LockspaceEngine("test", 0);
        var e = await Assert.ThrowsAsync<LockArgumentException>(async () => await engine.RequestAsync(Name, mode, flags));
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }

    [Fact]
    public async Task ValueBlock_CounterIncrementedUnderExclusive_EveryIncrementKeptAndNoOverlap()
    {
        const int workers = 4, iterations = 1500, resources = 3;
        await using var engine = new LockspaceEngine("test", 32);
        var names = Enumerable.Range(0, resources).Select(i => System.Text.Encoding.ASCII.GetBytes($"counter/{i}")).ToArray();
        var holders = new int[resources];
        var overlaps = 0;
        // An NL lock per resource keeps each resource (and its LVB) alive between increments (spec §4.14).
        foreach (var name in names)
        {
            await engine.RequestAsync(name, LockMode.Null);
        }

        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < iterations; i++)
            {
                var r = (w + i) % resources;
                var (held, result) = await engine.RequestAsync(names[r], LockMode.Exclusive, LockFlags.ValBlk);
                Assert.Equal(Errno.Ok, result);
                if (Interlocked.Increment(ref holders[r]) != 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                var value = BinaryPrimitives.ReadInt64LittleEndian(held.ValueBlock) + 1;
                BinaryPrimitives.WriteInt64LittleEndian(held.ValueBlock, value);
                Interlocked.Decrement(ref holders[r]);
                Assert.Equal(Errno.Unlocked, engine.Unlock(held));
            }
        }))).WaitAsync(TimeSpan.FromSeconds(60));

        long total = 0;
        foreach (var name in names)
        {
            var (reader, _) = await engine.RequestAsync(name, LockMode.ProtectedRead, LockFlags.ValBlk);
            total += BinaryPrimitives.ReadInt64LittleEndian(reader.ValueBlock);
        }

        Assert.Equal(0, overlaps);
        Assert.Equal(workers * iterations, total);
    }

    [Fact]
    public async Task BlockingCallback_Throws_CountedAndDeliveryGoesOn()
    {
        await using var engine = new LockspaceEngine("test", 0);
        var (first, _) = await engine.RequestAsync(Name, LockMode.Exclusive, blocking: (_, _) => throw new InvalidOperationException("boom"));
        var bast = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (second, _) = await engine.RequestAsync("other"u8.ToArray(), LockMode.Exclusive, blocking: (_, _) => bast.TrySetResult());
        _ = engine.RequestAsync(Name, LockMode.Exclusive).AsTask();
        _ = engine.RequestAsync("other"u8.ToArray(), LockMode.Exclusive).AsTask();
        await bast.Task.WaitAsync(Timeout);
        Assert.Equal(1, engine.CallbackFailures);
        _ = (first, second);
    }

    [Fact]
    public async Task Sweep_UnusedResource_CachedUntilTossTimeThenFreed()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        await using var engine = new LockspaceEngine("test", 32, tossTime: TimeSpan.FromSeconds(10), timeProvider: time);
        var (held, _) = await engine.RequestAsync(Name, LockMode.Exclusive, LockFlags.ValBlk);
        held.ValueBlock![0] = 42;
        engine.Unlock(held);
        Assert.Equal((0, 1), (engine.ResourceCount, engine.CachedResourceCount));

        // Reused while cached: no new resource, but the LVB went with the last lock (spec §4.14).
        var (again, _) = await engine.RequestAsync(Name, LockMode.ProtectedRead, LockFlags.ValBlk);
        Assert.Equal((1, 0), (engine.ResourceCount, engine.CachedResourceCount));
        Assert.Equal(0, again.ValueBlock![0]);
        engine.Unlock(again);

        time.Advance(TimeSpan.FromSeconds(11)); // the timer's sweep at 10 s sees it unused
        Assert.Equal(1, engine.CachedResourceCount);
        time.Advance(TimeSpan.FromSeconds(10)); // the sweep at 20 s frees it
        Assert.Equal(0, engine.CachedResourceCount);
    }
}
