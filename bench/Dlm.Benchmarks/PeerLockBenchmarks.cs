using BenchmarkDotNet.Attributes;
using Dlm.Transport;

namespace Dlm.Benchmarks;

/// <summary>
/// What the peer lock's one atomic instruction costs a sender, and when. Each operation copies one
/// 120-byte message (the bench comms message) to the tail of a 2 MiB ring (the size of the queue a
/// 16,384-message window retains) and publishes the new tail, as a sender fills its queue:
/// <see cref="Plain"/> without a lock, <see cref="Locked"/> inside <see cref="PeerLock.Enter"/> /
/// <see cref="PeerLock.Exit"/>. <see cref="Reader"/> says what another thread, on the other core when
/// there are two, does meanwhile: nothing; copy out what the sender wrote in 48 KiB batches, published
/// once per batch, as a socket writer does; or the same while it polls the tail the sender writes with
/// every message. The difference between the two methods is what the lock's atomic instruction costs in
/// each case (docs/performance.md, "Eleventh session").
/// </summary>
[MemoryDiagnoser]
public class PeerLockBenchmarks
{
    private const int MessageSize = 120;
    private const int Batch = 1024;
    private const int RingSize = 2 << 20;
    private const int ReaderBatch = 48 * 1024;
    private const int Tail = 8, Published = 24;

    private readonly byte[] _ring = GC.AllocateArray<byte>(RingSize, pinned: true);
    private readonly byte[] _message = new byte[MessageSize];
    private readonly PeerLock _lock = new();

    // The tail (written per message) and the published tail (per batch) on lines of their own, 128 bytes apart.
    private readonly long[] _positions = new long[32];
    private volatile bool _stop;
    private Thread? _reader;

    /// <summary>What the other thread does.</summary>
    public enum ReaderKind
    {
        /// <summary>There is none.</summary>
        None,

        /// <summary>It copies out each 48 KiB batch once the sender has published it.</summary>
        Batches,

        /// <summary>It copies out batches too, but watches for them by reading the tail written per message.</summary>
        PollsTail,
    }

    /// <summary>What another thread does while the sender sends.</summary>
    [Params(ReaderKind.None, ReaderKind.Batches, ReaderKind.PollsTail)]
    public ReaderKind Reader { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Random.Shared.NextBytes(_message);
        if (Reader != ReaderKind.None)
        {
            _stop = false;
            _reader = new Thread(ReadBehind) { IsBackground = true, Name = "reader" };
            _reader.Start();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stop = true;
        _reader?.Join();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Batch)]
    public long Plain()
    {
        var tail = _positions[Tail];
        for (var i = 0; i < Batch; i++)
        {
            tail = Append(tail);
        }

        return tail;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public long Locked()
    {
        var tail = _positions[Tail];
        for (var i = 0; i < Batch; i++)
        {
            _lock.Enter();
            tail = Append(tail);
            _lock.Exit();
        }

        return tail;
    }

    private long Append(long tail)
    {
        var offset = (int)(tail % RingSize);
        if (offset + MessageSize > RingSize)
        {
            tail += RingSize - offset;
            offset = 0;
        }

        _message.CopyTo(_ring.AsSpan(offset));
        tail += MessageSize;
        Volatile.Write(ref _positions[Tail], tail);
        if (tail - _positions[Published] >= ReaderBatch)
        {
            Volatile.Write(ref _positions[Published], tail); // once per batch, as a commit signals the writer
        }

        return tail;
    }

    // Copies out whatever is a batch or more behind what it watches, never more than a ring's worth.
    private void ReadBehind()
    {
        var scratch = new byte[ReaderBatch];
        var pollsTail = Reader == ReaderKind.PollsTail;
        long head = 0;
        while (!_stop)
        {
            var tail = Volatile.Read(ref _positions[pollsTail ? Tail : Published]);
            if (tail - head < ReaderBatch)
            {
                Thread.SpinWait(20);
                continue;
            }

            head = Math.Max(head, tail - RingSize + ReaderBatch);
            var offset = (int)(head % RingSize);
            var length = Math.Min(ReaderBatch, RingSize - offset);
            _ring.AsSpan(offset, length).CopyTo(scratch);
            head += length;
        }
    }
}
