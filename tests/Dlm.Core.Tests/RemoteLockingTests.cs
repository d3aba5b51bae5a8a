using System.Buffers.Binary;
using System.Text;
using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>Owner and master on different nodes (spec §4.17–§4.18), over an in-memory network.</summary>
public sealed class RemoteLockingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    public static TheoryData<string> Names => new() { "alpha", "beta", "gamma", "delta", "resource/000042" };

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Request_TwoNodesConflict_BastToHolderThenGrantToWaiter(string text)
    {
        var name = Encoding.ASCII.GetBytes(text);
        await using var cluster = new InMemoryCluster(3);
        var bast = new TaskCompletionSource<LockMode>(TaskCreationOptions.RunContinuationsAsynchronously);
        var (holder, result) = await cluster[1].RequestAsync(name, LockMode.Exclusive, blocking: (_, m) => bast.TrySetResult(m)).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);

        var waiting = cluster[2].RequestAsync(name, LockMode.ProtectedRead).AsTask();
        Assert.Equal(LockMode.ProtectedRead, await bast.Task.WaitAsync(Timeout));
        Assert.False(waiting.IsCompleted);

        Assert.Equal(Errno.Unlocked, cluster[1].Unlock(holder));
        var (reader, readResult) = await waiting.WaitAsync(Timeout);
        Assert.Equal((Errno.Ok, LockMode.ProtectedRead), (readResult, reader.Mode));
    }

    [Fact]
    public async Task Convert_WhileACancelAwaitsItsReply_IsBusy()
    {
        // spec §4.19: a cancel that loses the race with the grant is answered 0 after the GRANT. Until that
        // answer, the lock still has a cancel in flight, and a conversion must wait (-EBUSY, as the kernel):
        // otherwise a master failing before the answer would end the new conversion as cancelled.
        var name = Encoding.ASCII.GetBytes("cancel-race");
        await using var cluster = new InMemoryCluster(3);
        var (holder, _) = await cluster[3].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout); // node 3 masters it
        var queued = new TaskCompletionSource<EngineLock>(TaskCreationOptions.RunContinuationsAsynchronously);
        var converted = new TaskCompletionSource<Task<int>>(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.Delivering = (from, to, message) =>
        {
            if (from == 3 && to == 1 && message.Type == MessageType.RequestReply)
            {
                queued.TrySetResult(cluster[1].OwnLock(message.RemoteId)!);
            }
            else if (from == 1 && to == 3 && message.Type == MessageType.Cancel)
            {
                cluster[3].Unlock(holder); // the grant goes out before the cancel is seen: the cancel finds nothing to cancel
            }
            else if (from == 3 && to == 1 && message.Type == MessageType.CancelReply)
            {
                converted.TrySetResult(cluster[1].ConvertAsync(queued.Task.Result, LockMode.ProtectedRead).AsTask()); // granted, cancel unanswered
            }
        };

        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask();
        var waiting = await queued.Task.WaitAsync(Timeout);
        Assert.Equal(Errno.InProgress, cluster[1].Cancel(waiting));
        var (granted, result) = await request.WaitAsync(Timeout);
        Assert.Equal((Errno.Ok, LockMode.Exclusive), (result, granted.Mode));
        Assert.Equal(Errno.Busy, await (await converted.Task.WaitAsync(Timeout)).WaitAsync(Timeout));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task ValueBlock_WrittenOnOneNode_ReadOnAnother(string text)
    {
        var name = Encoding.ASCII.GetBytes(text);
        await using var cluster = new InMemoryCluster(3);
        var (keeper, _) = await cluster[3].RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // keeps the LVB alive

        var (writer, _) = await cluster[1].RequestAsync(name, LockMode.Exclusive, LockFlags.ValBlk).AsTask().WaitAsync(Timeout);
        BinaryPrimitives.WriteInt64LittleEndian(writer.ValueBlock, 4242);
        cluster[1].Unlock(writer);

        var (reader, _) = await cluster[2].RequestAsync(name, LockMode.ProtectedRead, LockFlags.ValBlk).AsTask().WaitAsync(Timeout);
        Assert.Equal(4242, BinaryPrimitives.ReadInt64LittleEndian(reader.ValueBlock));
        _ = keeper;
    }

    [Fact]
    public async Task Convert_RemoteUpConversionWaitsForOtherReader_DownConversionIsImmediate()
    {
        var name = "convert/1"u8.ToArray();
        await using var cluster = new InMemoryCluster(2);
        var (first, _) = await cluster[1].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);
        var (second, _) = await cluster[2].RequestAsync(name, LockMode.ProtectedRead).AsTask().WaitAsync(Timeout);

        var up = cluster[2].ConvertAsync(second, LockMode.Exclusive).AsTask();
        var down = cluster[1].ConvertAsync(first, LockMode.Null).AsTask();
        Assert.Equal(Errno.Ok, await down.WaitAsync(Timeout)); // down-conversion completes at once, wherever the master is
        Assert.Equal(Errno.Ok, await up.WaitAsync(Timeout));
        Assert.Equal(LockMode.Exclusive, second.Mode);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Request_CancelledWhileQueuedOnRemoteMaster_EndsWithCancel(string text)
    {
        var name = Encoding.ASCII.GetBytes(text);
        await using var cluster = new InMemoryCluster(2);
        var queued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var (holder, _) = await cluster[1].RequestAsync(name, LockMode.Exclusive, blocking: (_, _) => queued.TrySetResult()).AsTask().WaitAsync(Timeout);
        using var cts = new CancellationTokenSource();
        var waiting = cluster[2].RequestAsync(name, LockMode.Exclusive, cancellationToken: cts.Token).AsTask();
        await queued.Task.WaitAsync(Timeout); // the holder's BAST proves the request is queued on the master
        await cts.CancelAsync();
        var (_, result) = await waiting.WaitAsync(Timeout);
        Assert.Equal(Errno.Cancelled, result);
        Assert.Equal(LockMode.Exclusive, holder.Mode);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Request_CancelledAtOnce_EndsWithCancelWhereverTheRequestWas(string text)
    {
        var name = Encoding.ASCII.GetBytes(text);
        await using var cluster = new InMemoryCluster(3);
        await cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        using var cts = new CancellationTokenSource();
        var waiting = cluster[2].RequestAsync(name, LockMode.Exclusive, cancellationToken: cts.Token).AsTask();
        await cts.CancelAsync(); // may overlap the lookup or the request in flight (spec §4.19)
        var (_, result) = await waiting.WaitAsync(Timeout);
        Assert.Equal(Errno.Cancelled, result);
    }

    [Fact]
    public async Task Counter_ThreeNodesIncrementUnderExclusive_SumIsExactAndNoOverlap()
    {
        const int perWorker = 150, workersPerNode = 2, resources = 4;
        await using var cluster = new InMemoryCluster(3);
        var names = Enumerable.Range(0, resources).Select(i => Encoding.ASCII.GetBytes($"counter/{i}")).ToArray();
        foreach (var engine in cluster.Engines)
        {
            foreach (var name in names)
            {
                await engine.RequestAsync(name, LockMode.Null).AsTask().WaitAsync(Timeout); // keep every LVB alive
            }
        }

        var holders = new int[resources];
        var overlaps = 0;
        var workers = cluster.Engines.SelectMany(engine => Enumerable.Range(0, workersPerNode).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < perWorker; i++)
            {
                var r = (w + i) % resources;
                var (held, result) = await engine.RequestAsync(names[r], LockMode.Exclusive, LockFlags.ValBlk);
                Assert.Equal(Errno.Ok, result);
                if (Interlocked.Increment(ref holders[r]) != 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                BinaryPrimitives.WriteInt64LittleEndian(held.ValueBlock, BinaryPrimitives.ReadInt64LittleEndian(held.ValueBlock) + 1);
                Interlocked.Decrement(ref holders[r]);
                Assert.Equal(Errno.Unlocked, engine.Unlock(held));
            }
        })));
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));

        long total = 0;
        foreach (var name in names)
        {
            var (reader, _) = await cluster[1].RequestAsync(name, LockMode.ProtectedRead, LockFlags.ValBlk).AsTask().WaitAsync(Timeout);
            total += BinaryPrimitives.ReadInt64LittleEndian(reader.ValueBlock);
        }

        Assert.Equal(0, overlaps);
        Assert.Equal(3 * workersPerNode * perWorker, total);
        Assert.True(cluster.Messages > 0, "nothing crossed the network: every resource was mastered where it was used");
    }

    [Fact]
    public async Task Sweep_MasterFreesUnusedResource_DirectoryForgetsItAndTheNextAskerBecomesMaster()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider();
        await using var cluster = new InMemoryCluster(3, time: time);
        // Find a name whose directory node is neither node 1 (the first master) nor node 3 (the next asker).
        var directory = new DirectoryNodes([new(1), new(2), new(3)]);
        var name = Enumerable.Range(0, 1000).Select(i => Encoding.ASCII.GetBytes($"swept/{i}"))
            .First(n => directory.NodeFor(ResourceHash.Compute(n)) == 2);

        var (first, _) = await cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        Assert.True(first.IsMasteredLocally); // node 1 asked first, so the directory made it master
        cluster[1].Unlock(first);

        var messagesBefore = cluster.Messages;
        time.Advance(TimeSpan.FromSeconds(11)); // the toss timer sees it unused at 10 s
        time.Advance(TimeSpan.FromSeconds(10)); // and frees it at 20 s, sending REMOVE to node 2
        Assert.Equal(0, cluster[1].CachedResourceCount);
        Assert.Equal(messagesBefore + 1, cluster.Messages);

        var (next, result) = await cluster[3].RequestAsync(name, LockMode.Exclusive).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
        Assert.True(next.IsMasteredLocally, "the directory still named node 1 after its REMOVE");
    }
}
