using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Dlm.Transport;

/// <summary>
/// A peer's outgoing messages, in order (spec §3.4). It doubles as midcomms' unacknowledged
/// queue (spec §2.2 <c>send_queue</c>): a <em>retained</em> entry stays after it is sent, until
/// <see cref="Release"/> acknowledges its sequence number, and <see cref="Rewind"/> puts every
/// retained entry back in line, byte-identical and in sequence order, when a new connection
/// becomes usable (spec §2.7). A message is never split across socket writes it does not
/// start in, and after a rewind it is sent again from its first byte (spec §3.4).
/// Not thread-safe: the owning <see cref="PeerConnection"/>'s lock guards it. Hot path.
/// </summary>
internal sealed class WriteQueue
{
    private const int ChunkSize = 64 * 1024;

    private Entry[] _ring = new Entry[256]; // a power of two, doubled when full: indexes wrap with a mask
    private int _head;          // ring index of the oldest entry
    private int _count;         // entries held
    private int _cursor;        // entries from the head already handed to a socket write
    private long _headId;       // id of the entry at _head; ids grow by one per reservation
    private Chunk? _current;    // the newest chunk, which reservations go into

    // The chunks entries live in, oldest first, by number (numbers grow by one per chunk and wrap): an entry
    // names its chunk by number, so entries hold no object reference (no GC write barrier per message, and
    // nothing to clear when they go). It holds every chunk that entries still live in, and the current one.
    private Chunk?[] _chunks = new Chunk?[16]; // a power of two, doubled when full
    private uint _chunkHead;    // number of the oldest chunk held
    private uint _chunkTail;    // number the next chunk gets

    /// <summary>Entries held (sent-and-retained plus not yet sent).</summary>
    public int Count => _count;

    /// <summary>Entries still to be written to a socket (tests and diagnostics).</summary>
    public int Pending
    {
        get
        {
            var pending = 0;
            for (var i = _cursor; i < _count; i++)
            {
                pending += (At(i).Flags & EntryFlags.Skip) == 0 ? 1 : 0;
            }

            return pending;
        }
    }

    /// <summary>Bytes held in retained entries (for statistics and bounds).</summary>
    public long RetainedBytes { get; private set; }

    /// <summary>Bytes still to be written to a socket: entries after the cursor, reserved or committed, not skipped.</summary>
    public int PendingBytes { get; private set; }

    /// <summary>True if the next entry to write is committed.</summary>
    public bool HasSendable
    {
        get
        {
            for (var i = _cursor; i < _count; i++)
            {
                ref var e = ref At(i);
                if ((e.Flags & EntryFlags.Skip) == 0)
                {
                    return (e.Flags & EntryFlags.Committed) != 0;
                }
            }

            return false;
        }
    }

    /// <summary>Reserves <paramref name="length"/> bytes at the tail; the caller fills them, then commits.</summary>
    public SendSlot Reserve(int length, bool retained, uint sequence)
    {
        var id = _headId + _count;
        ref var e = ref Add(length, retained ? EntryFlags.Retained : EntryFlags.None, sequence);
        return new SendSlot(id, _current!.Data, e.Offset, length);
    }

    /// <summary>
    /// Reserves <paramref name="length"/> bytes at the tail, already committed: for a caller that fills
    /// them before it releases the lock, so no writer can claim them half-written.
    /// </summary>
    public Span<byte> Append(int length, bool retained, uint sequence)
    {
        ref var e = ref Add(length, retained ? EntryFlags.Retained | EntryFlags.Committed : EntryFlags.Committed, sequence);
        return _current!.Data.AsSpan(e.Offset, length);
    }

    private ref Entry Add(int length, EntryFlags flags, uint sequence)
    {
        if (_current is null || ChunkSize - _current.Used < length)
        {
            NewChunk();
        }

        if (_count == _ring.Length)
        {
            Grow();
        }

        var chunk = _current!;
        var offset = chunk.Used;
        chunk.Used += length;
        chunk.Live++;
        PendingBytes += length;
        ref var e = ref At(_count);
        e = new Entry(_chunkTail - 1, (ushort)offset, length, flags, sequence);
        _count++;
        if ((flags & EntryFlags.Retained) != 0)
        {
            RetainedBytes += length;
        }

        return ref e;
    }

    // The current chunk is full: a new one from the pool. The old one stays while entries live in it;
    // with none left it leaves now (to the pool, unless a batch still copies from it: Unpin returns it).
    private void NewChunk()
    {
        if (_current is { Live: 0 })
        {
            PopChunk(_current);
        }

        if (_chunkTail - _chunkHead == (uint)_chunks.Length)
        {
            GrowChunks();
        }

        _current = new Chunk(ArrayPool<byte>.Shared.Rent(ChunkSize));
        Slot(_chunkTail++) = _current;
    }

    // The oldest chunk held has no entries left: it leaves the ring, and goes to the pool unless pinned.
    private void PopChunk(Chunk chunk)
    {
        Debug.Assert(Slot(_chunkHead) == chunk, "chunks empty in order, oldest first");
        Slot(_chunkHead++) = null;
        if (chunk.Pins == 0)
        {
            ArrayPool<byte>.Shared.Return(chunk.Data);
        }
    }

    private void GrowChunks()
    {
        var bigger = new Chunk?[_chunks.Length * 2];
        for (var n = _chunkHead; n != _chunkTail; n++)
        {
            bigger[n & (uint)(bigger.Length - 1)] = Slot(n);
        }

        _chunks = bigger;
    }

    // The ring slot of chunk number n (numbers wrap; the ring's length is a power of two).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Chunk? Slot(uint n) => ref _chunks[n & (uint)(_chunks.Length - 1)];

    /// <summary>Marks a reserved entry complete; false if the queue was cleared since.</summary>
    public bool Commit(long id)
    {
        var index = id - _headId;
        if (index < 0 || index >= _count)
        {
            return false;
        }

        At((int)index).Flags |= EntryFlags.Committed;
        return true;
    }

    /// <summary>
    /// Hands whole committed entries, in order, to one socket write of at most <paramref name="maxBytes"/>
    /// bytes: moves the cursor past them and records their bytes in <paramref name="batch"/> (adjacent
    /// entries as one range), which keeps their chunks out of the pool until <see cref="Unpin"/>, so the
    /// caller can copy them out after releasing the lock. Stops at the first uncommitted entry or when the
    /// next one does not fit. Returns the bytes claimed. Runs under the lock that every sender takes, once
    /// per entry: keep it to reads and sums.
    /// </summary>
    public int Claim(int maxBytes, Batch batch)
    {
        var start = batch.Length;
        for (; _cursor < _count; _cursor++)
        {
            ref var e = ref At(_cursor);
            if ((e.Flags & EntryFlags.Skip) != 0)
            {
                continue;
            }

            if ((e.Flags & EntryFlags.Committed) == 0 || e.Length > maxBytes - (batch.Length - start))
            {
                break;
            }

            batch.Add(Slot(e.Chunk)!, e.Offset, e.Length);
        }

        PendingBytes -= batch.Length - start;
        DropHead(0, ignoreSequence: true);
        return batch.Length - start;
    }

    /// <summary>The batch's bytes were copied out: its chunks may go back to the pool once nothing else holds them.</summary>
    public void Unpin(Batch batch)
    {
        foreach (var chunk in batch.Pinned)
        {
            if (--chunk.Pins == 0 && chunk.Live == 0 && chunk != _current)
            {
                ArrayPool<byte>.Shared.Return(chunk.Data);
            }
        }

        batch.Clear();
    }

    /// <summary>Drops retained entries whose sequence is before <paramref name="nextExpected"/> (wrap-safe, spec §2.6).</summary>
    public int Release(uint nextExpected) => DropHead(nextExpected, ignoreSequence: false);

    /// <summary>
    /// A new connection is usable: every retained entry will be written again from its first
    /// byte; sent entries that are not retained (ACKs, stateless messages, 3.1 traffic) are not.
    /// Returns the number of retained entries queued again (retransmissions).
    /// </summary>
    public int Rewind()
    {
        var again = 0;
        for (var i = 0; i < _cursor; i++)
        {
            ref var e = ref At(i);
            if ((e.Flags & EntryFlags.Retained) != 0)
            {
                again++;
                PendingBytes += e.Length;
            }
            else
            {
                e.Flags |= EntryFlags.Skip;
            }
        }

        _cursor = 0;
        DropHead(0, ignoreSequence: true);
        return again;
    }

    /// <summary>
    /// Drops the retained (unacknowledged) messages but keeps unsent plain ones: a midcomms reset
    /// discards its send queue, while an ACK it just queued must still go out (spec §2.2, §2.9).
    /// </summary>
    public void DropRetained()
    {
        for (var i = 0; i < _count; i++)
        {
            ref var e = ref At(i);
            if ((e.Flags & EntryFlags.Retained) != 0)
            {
                RetainedBytes -= e.Length;
                PendingBytes -= i >= _cursor ? e.Length : 0;
                e.Flags = (e.Flags & ~EntryFlags.Retained) | EntryFlags.Skip;
            }
        }

        DropHead(0, ignoreSequence: true);
    }

    /// <summary>
    /// Drops everything (node reset or close). Chunks go to the GC, not the pool: a caller may still be filling a
    /// slot. The entry ring needs no clearing: entries hold no references, and each is written whole when added.
    /// </summary>
    public void Clear()
    {
        Array.Clear(_chunks);
        _headId += _count;
        _head = _count = _cursor = 0;
        _chunkHead = _chunkTail = 0;
        _current = null;
        RetainedBytes = 0;
        PendingBytes = 0;
    }

    // Drops entries from the head while they are done with. Hot (every ACK): the queue's fields are kept
    // in locals and written back once, and a chunk's live count drops once per run of its entries.
    private int DropHead(uint nextExpected, bool ignoreSequence)
    {
        var ring = _ring;
        var mask = ring.Length - 1;
        int head = _head, count = _count, cursor = _cursor;
        int dropped = 0, pendingBytes = 0, live = 0;
        long retainedBytes = 0;
        var chunk = _chunkHead; // the run of entries being counted lives in this chunk
        while (count > 0)
        {
            ref var e = ref ring[head];
            if ((e.Flags & EntryFlags.Committed) == 0)
            {
                break; // still being filled (even if a reset skipped it): its chunk must not go back to the pool
            }

            var retained = (e.Flags & EntryFlags.Retained) != 0;
            var done = retained
                ? !ignoreSequence && (int)(e.Sequence - nextExpected) < 0
                : cursor > 0 || (e.Flags & EntryFlags.Skip) != 0; // written (before the cursor) or skipped
            if (!done)
            {
                break;
            }

            if (retained)
            {
                retainedBytes += e.Length;
                dropped++;
            }

            if (cursor == 0 && (e.Flags & EntryFlags.Skip) == 0)
            {
                pendingBytes += e.Length; // acknowledged while waiting to be sent again (after a rewind)
            }

            if (e.Chunk != chunk)
            {
                ReleaseEntries(chunk, live);
                (chunk, live) = (e.Chunk, 0);
            }

            live++;
            head = (head + 1) & mask;
            count--;
            cursor -= cursor > 0 ? 1 : 0;
        }

        ReleaseEntries(chunk, live);
        _headId += _count - count;
        (_head, _count, _cursor) = (head, count, cursor);
        RetainedBytes -= retainedBytes;
        PendingBytes -= pendingBytes;
        return dropped;
    }

    // Entries of a chunk left the queue; with none left the chunk leaves too, unless it is the current one.
    private void ReleaseEntries(uint number, int entries)
    {
        if (entries == 0)
        {
            return;
        }

        var chunk = Slot(number)!;
        if ((chunk.Live -= entries) == 0 && chunk != _current)
        {
            PopChunk(chunk);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Entry At(int offsetFromHead) => ref _ring[(_head + offsetFromHead) & (_ring.Length - 1)];

    private void Grow()
    {
        var bigger = new Entry[_ring.Length * 2];
        for (var i = 0; i < _count; i++)
        {
            bigger[i] = At(i);
        }

        _ring = bigger;
        _head = 0;
    }

    [Flags]
    private enum EntryFlags : byte
    {
        None = 0,
        Committed = 1,
        Retained = 2,
        Skip = 4,
    }

    // 16 bytes, no object reference: four to a cache line.
    private struct Entry(uint chunk, ushort offset, int length, EntryFlags flags, uint sequence)
    {
        public uint Chunk = chunk;        // the number of the chunk its bytes are in
        public uint Sequence = sequence;
        public int Length = length;
        public ushort Offset = offset;    // within the chunk (< 64 KiB)
        public EntryFlags Flags = flags;
    }

    /// <summary>One 64 KiB buffer that consecutive entries are reserved in.</summary>
    internal sealed class Chunk(byte[] data)
    {
        public byte[] Data { get; } = data;
        public int Used { get; set; }

        /// <summary>Entries in the queue that live here.</summary>
        public int Live { get; set; }

        /// <summary>Claimed batches still copying from here (<see cref="Claim"/> to <see cref="Unpin"/>).</summary>
        public int Pins { get; set; }
    }

    /// <summary>
    /// Bytes claimed for one socket write: ranges of chunks, copied out without the lock (spec §3.4:
    /// whole messages, in order). Reused by its one writer; pins are taken and dropped under the lock.
    /// </summary>
    internal sealed class Batch
    {
        private readonly List<(Chunk Chunk, int Offset, int Length)> _ranges = [];
        private readonly List<Chunk> _pinned = [];
        private Chunk? _open;           // the range being extended: consecutive reservations are adjacent bytes
        private int _openOffset, _openEnd;

        public int Length { get; private set; }

        public int Messages { get; private set; }

        public List<Chunk> Pinned => _pinned;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(Chunk chunk, int offset, int length)
        {
            Length += length;
            Messages++;
            if (chunk == _open && offset == _openEnd)
            {
                _openEnd += length;
                return;
            }

            Start(chunk, offset, length);
        }

        /// <summary>Copies the claimed bytes, in order; outside the lock (committed bytes never change).</summary>
        public void CopyTo(Span<byte> destination)
        {
            Close(); // the last range is still open: closed here, outside the lock, not in every claim
            var at = 0;
            foreach (var (chunk, offset, length) in _ranges)
            {
                chunk.Data.AsSpan(offset, length).CopyTo(destination[at..]);
                at += length;
            }
        }

        public void Clear()
        {
            _ranges.Clear();
            _pinned.Clear();
            _open = null;
            Length = Messages = 0;
        }

        // Ends the range being extended.
        private void Close()
        {
            if (_open is not null)
            {
                _ranges.Add((_open, _openOffset, _openEnd - _openOffset));
                _open = null;
            }
        }

        private void Start(Chunk chunk, int offset, int length)
        {
            Close();
            if (_pinned.Count == 0 || _pinned[^1] != chunk)
            {
                chunk.Pins++;
                _pinned.Add(chunk);
            }

            (_open, _openOffset, _openEnd) = (chunk, offset, offset + length);
        }
    }
}

/// <summary>Space reserved in a peer's write queue: fill <see cref="Span"/>, then commit it.</summary>
public readonly struct SendSlot
{
    private readonly byte[]? _buffer;
    private readonly int _offset;

    internal SendSlot(long id, byte[] buffer, int offset, int length)
    {
        Id = id;
        _buffer = buffer;
        _offset = offset;
        Length = length;
    }

    internal long Id { get; }

    /// <summary>Bytes reserved.</summary>
    public int Length { get; }

    /// <summary>Where to write the message, in place.</summary>
    public Span<byte> Span => _buffer.AsSpan(_offset, Length);
}
