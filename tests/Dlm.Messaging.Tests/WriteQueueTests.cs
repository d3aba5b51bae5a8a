using System.Buffers;
using Dlm.Transport;

namespace Dlm.Messaging.Tests;

/// <summary>
/// The transport write queue that doubles as midcomms' unacknowledged queue (spec §2.2, §2.7, §3.4):
/// commit order, whole messages only, retention until a wrap-safe cumulative ACK, rewind for
/// retransmission, clear on reset. Each message is filled with one byte value to identify it.
/// </summary>
public sealed class WriteQueueTests
{
    private const int ChunkSize = 64 * 1024;

    [Fact]
    public void CopyOut_CommittedEntries_CopiedInReservationOrder()
    {
        var q = new WriteQueue();
        Add(q, 1, 10);
        Add(q, 2, 20);
        Add(q, 3, 30);
        Assert.Equal(3, q.Pending);
        Assert.True(q.HasSendable);

        var bytes = Drain(q, out var messages);

        Assert.Equal(3, messages);
        Assert.Equal(Expected((1, 10), (2, 20), (3, 30)), bytes);
        Assert.Equal(0, q.Pending);
        Assert.False(q.HasSendable);
    }

    [Fact]
    public void Append_IsCommittedAtOnce_InLineWithReservations_AndRetainedUntilAcknowledged()
    {
        var q = new WriteQueue();
        var first = Add(q, 1, 10, commit: false);
        q.Append(20, retained: true, sequence: 5).Fill(2);
        q.Append(30, retained: false, sequence: 0).Fill(3);

        Assert.Empty(Drain(q, out _)); // behind an uncommitted reservation
        Assert.True(q.Commit(first.Id));
        Assert.Equal(Expected((1, 10), (2, 20), (3, 30)), Drain(q, out var messages));
        Assert.Equal(3, messages);
        Assert.Equal(2, q.Count); // the retained one stays until its ACK, and what follows it in the ring
        Assert.Equal(20, q.RetainedBytes);
        Assert.Equal(1, q.Release(6));
        Assert.Equal(0, q.Count);
    }

    [Fact]
    public void CopyOut_CommitOutOfOrder_WrittenInReservationOrder()
    {
        var q = new WriteQueue();
        var first = Add(q, 1, 10, commit: false);
        var second = Add(q, 2, 10, commit: false);
        Assert.True(q.Commit(second.Id));
        Assert.True(q.Commit(first.Id));

        Assert.Equal(Expected((1, 10), (2, 10)), Drain(q, out _));
    }

    [Fact]
    public void CopyOut_FirstEntryUncommitted_StopsEvenIfLaterOnesAreCommitted()
    {
        var q = new WriteQueue();
        var first = Add(q, 1, 10, commit: false);
        Add(q, 2, 10);
        Add(q, 3, 10);

        Assert.False(q.HasSendable);
        Assert.Empty(Drain(q, out var messages));
        Assert.Equal(0, messages);
        Assert.Equal(3, q.Pending);

        Assert.True(q.Commit(first.Id));
        Assert.True(q.HasSendable);
        Assert.Equal(Expected((1, 10), (2, 10), (3, 10)), Drain(q, out messages));
        Assert.Equal(3, messages);
    }

    [Fact]
    public void CopyOut_MiddleEntryUncommitted_StopsThere()
    {
        var q = new WriteQueue();
        Add(q, 1, 10);
        var middle = Add(q, 2, 10, commit: false);
        Add(q, 3, 10);

        Assert.Equal(Expected((1, 10)), Drain(q, out _));
        Assert.Equal(2, q.Pending);
        Assert.Empty(Drain(q, out _));

        q.Commit(middle.Id);
        Assert.Equal(Expected((2, 10), (3, 10)), Drain(q, out _));
    }

    [Fact]
    public void CopyOut_NextMessageDoesNotFit_WaitsForTheNextCopyOut()
    {
        var q = new WriteQueue();
        Add(q, 1, 100);
        Add(q, 2, 100);
        Add(q, 3, 40);
        var destination = new byte[150];

        Assert.Equal(100, q.CopyOut(destination, out var messages));
        Assert.Equal(1, messages);
        Assert.Equal(Expected((1, 100)), destination[..100]);

        Assert.Equal(140, q.CopyOut(destination, out messages));
        Assert.Equal(2, messages);
        Assert.Equal(Expected((2, 100), (3, 40)), destination[..140]);

        Assert.Equal(0, q.CopyOut(destination, out messages));
        Assert.Equal(0, messages);
    }

    [Fact]
    public void CopyOut_DestinationSmallerThanFirstMessage_CopiesNothing()
    {
        var q = new WriteQueue();
        Add(q, 1, 100);

        Assert.Equal(0, q.CopyOut(new byte[99], out var messages));
        Assert.Equal(0, messages);
        Assert.Equal(1, q.Pending);
        Assert.Equal(Expected((1, 100)), Drain(q, out _));
    }

    [Fact]
    public void CopyOut_NotRetained_DroppedOnceCopied()
    {
        var q = new WriteQueue();
        Add(q, 1, 16);
        Add(q, 2, 16);

        Drain(q, out _);

        Assert.Equal(0, q.Count);
        Assert.Equal(0, q.Pending);
        Assert.Equal(0, q.RetainedBytes);
        Assert.Equal(0, q.Rewind());
        Assert.Empty(Drain(q, out _));
    }

    [Fact]
    public void Release_RetainedEntries_StayAfterCopyOutUntilAcknowledged()
    {
        var q = new WriteQueue();
        Add(q, 1, 10, retained: true, sequence: 0);
        Add(q, 2, 20, retained: true, sequence: 1);
        Add(q, 3, 30, retained: true, sequence: 2);
        Drain(q, out _);
        Assert.Equal(3, q.Count);
        Assert.Equal(0, q.Pending);
        Assert.Equal(60, q.RetainedBytes);

        Assert.Equal(0, q.Release(0));
        Assert.Equal(2, q.Release(2));

        Assert.Equal(1, q.Count);
        Assert.Equal(30, q.RetainedBytes);
        Assert.Equal(0, q.Release(2)); // the same ACK again
        Assert.Equal(1, q.Release(3));
        Assert.Equal(0, q.Count);
        Assert.Equal(0, q.RetainedBytes);
    }

    [Fact]
    public void Release_AcrossSequenceWrap_DropsEveryEntryBeforeTheAck()
    {
        var q = new WriteQueue();
        Add(q, 1, 10, retained: true, sequence: 0xFFFF_FFFE);
        Add(q, 2, 10, retained: true, sequence: 0xFFFF_FFFF);
        Add(q, 3, 10, retained: true, sequence: 0);
        Add(q, 4, 10, retained: true, sequence: 1);
        Drain(q, out _);

        Assert.Equal(3, q.Release(1));

        Assert.Equal(1, q.Count);
        Assert.Equal(10, q.RetainedBytes);
        Assert.Equal(1, q.Rewind());
        Assert.Equal(Expected((4, 10)), Drain(q, out _)); // only seq 1 is left
        Assert.Equal(1, q.Release(2));
        Assert.Equal(0, q.Count);
    }

    [Fact]
    public void Release_AckFromBeforeTheWrap_DropsNothing()
    {
        var q = new WriteQueue();
        Add(q, 1, 10, retained: true, sequence: 0xFFFF_FFFF);
        Add(q, 2, 10, retained: true, sequence: 0);
        Drain(q, out _);

        Assert.Equal(0, q.Release(0xFFFF_FFFF));
        Assert.Equal(0, q.Release(0xFFFF_FF00));
        Assert.Equal(2, q.Count);
        Assert.Equal(1, q.Release(0));
        Assert.Equal(1, q.Count);
    }

    [Fact]
    public void Release_NotRetainedSentBehindRetained_DroppedWithIt()
    {
        var q = new WriteQueue();
        Add(q, 1, 40, retained: true, sequence: 0);
        Add(q, 2, 16);                                // a plain ACK, sent but held behind seq 0
        Add(q, 3, 40, retained: true, sequence: 1);
        Drain(q, out _);
        Assert.Equal(3, q.Count);

        Assert.Equal(1, q.Release(1));

        Assert.Equal(1, q.Count);                     // seq 1 only
        Assert.Equal(40, q.RetainedBytes);
    }

    [Fact]
    public void Rewind_RetainedEntries_RequeuedInOrderSkippingSentNotRetained()
    {
        var q = new WriteQueue();
        Add(q, 1, 40, retained: true, sequence: 0);
        Add(q, 2, 16);                                // ACK: not resent
        Add(q, 3, 48, retained: true, sequence: 1);
        Add(q, 4, 64);                                // stateless STATUS: not resent
        Add(q, 5, 40, retained: true, sequence: 2);
        Assert.Equal(Expected((1, 40), (2, 16), (3, 48), (4, 64), (5, 40)), Drain(q, out _));

        Assert.Equal(3, q.Rewind());

        Assert.True(q.HasSendable);
        Assert.Equal(Expected((1, 40), (3, 48), (5, 40)), Drain(q, out var messages));
        Assert.Equal(3, messages);
        Assert.Equal(5, q.Count);                     // retained (plus the skipped plain ones held behind them)
        Assert.Equal(128, q.RetainedBytes);
        Assert.Equal(3, q.Rewind());                  // and again on the next connection
        Assert.Equal(Expected((1, 40), (3, 48), (5, 40)), Drain(q, out _));
    }

    [Fact]
    public void Rewind_WithUnsentEntries_RetransmissionsComeFirstAndUnsentKeepTheirOrder()
    {
        var q = new WriteQueue();
        Add(q, 1, 40, retained: true, sequence: 0);
        Add(q, 2, 16);
        Drain(q, out _);
        Add(q, 3, 40, retained: true, sequence: 1);   // queued while disconnected
        Add(q, 4, 16);

        Assert.Equal(1, q.Rewind());

        Assert.Equal(Expected((1, 40), (3, 40), (4, 16)), Drain(q, out _));
    }

    [Fact]
    public void Release_AfterRewind_DropsAcknowledgedEntriesNotYetResent()
    {
        var q = new WriteQueue();
        Add(q, 1, 40, retained: true, sequence: 0);
        Add(q, 2, 16);
        Add(q, 3, 40, retained: true, sequence: 1);
        Add(q, 4, 40, retained: true, sequence: 2);
        Drain(q, out _);
        Assert.Equal(3, q.Rewind());

        Assert.Equal(2, q.Release(2));                // the ACK arrives before the resend

        Assert.Equal(1, q.Pending);
        Assert.Equal(40, q.RetainedBytes);
        Assert.Equal(Expected((4, 40)), Drain(q, out var messages));
        Assert.Equal(1, messages);
        Assert.Equal(1, q.Count);
    }

    [Fact]
    public void Release_AfterPartialResend_KeepsCursorOnTheNextEntry()
    {
        var q = new WriteQueue();
        Add(q, 1, 100, retained: true, sequence: 0);
        Add(q, 2, 100, retained: true, sequence: 1);
        Add(q, 3, 100, retained: true, sequence: 2);
        Drain(q, out _);
        q.Rewind();
        Assert.Equal(100, q.CopyOut(new byte[150], out _)); // seq 0 resent

        Assert.Equal(2, q.Release(2));

        Assert.Equal(1, q.Pending);
        Assert.Equal(Expected((3, 100)), Drain(q, out _));
    }

    // What a sender compares with the stream batch before it writes inline (PeerConnection): bytes still to
    // be written, reserved ones included, through claims, rewinds, early ACKs and resets.
    [Fact]
    public void PendingBytes_FollowsClaimsRewindsReleasesAndResets()
    {
        var q = new WriteQueue();
        Add(q, 1, 40, retained: true, sequence: 0);
        Add(q, 2, 16);
        var open = Add(q, 3, 48, retained: true, sequence: 1, commit: false);
        Assert.Equal(104, q.PendingBytes);

        Assert.Equal(56, q.CopyOut(new byte[1000], out _)); // stops at the slot being filled
        Assert.Equal(48, q.PendingBytes);
        q.Commit(open.Id);
        Drain(q, out _);
        Assert.Equal(0, q.PendingBytes);

        Assert.Equal(2, q.Rewind());                        // both retained go again, the plain one does not
        Assert.Equal(88, q.PendingBytes);
        Assert.Equal(1, q.Release(1));                      // acknowledged before it went again
        Assert.Equal(48, q.PendingBytes);

        Add(q, 4, 20);
        q.DropRetained();                                   // a reset: the unsent retained one goes, the plain one stays
        Assert.Equal(20, q.PendingBytes);
        Assert.Equal(Expected((4, 20)), Drain(q, out _));
        Assert.Equal(0, q.PendingBytes);

        Add(q, 5, 30);
        q.Clear();
        Assert.Equal(0, q.PendingBytes);
    }

    [Fact]
    public void Clear_ThenCommitOfAnOldSlot_ReturnsFalse()
    {
        var q = new WriteQueue();
        var old = Add(q, 1, 40, retained: true, sequence: 0, commit: false);
        Add(q, 2, 16);

        q.Clear();

        Assert.Equal(0, q.Count);
        Assert.Equal(0, q.Pending);
        Assert.Equal(0, q.RetainedBytes);
        Assert.False(q.Commit(old.Id));
        var fresh = Add(q, 3, 16, commit: false);
        Assert.False(q.Commit(old.Id));               // the old id does not name the new entry
        Assert.False(q.HasSendable);
        Assert.True(q.Commit(fresh.Id));
        Assert.Equal(Expected((3, 16)), Drain(q, out _));
    }

    [Fact]
    public void Commit_UnknownOrAlreadyDroppedId_ReturnsFalse()
    {
        var q = new WriteQueue();
        var slot = Add(q, 1, 16);
        Drain(q, out _);

        Assert.False(q.Commit(slot.Id));
        Assert.False(q.Commit(slot.Id + 1));
        Assert.False(q.Commit(-1));
    }

    [Fact]
    public void ManyMessages_AcrossSeveralChunks_CopiedOutIntactAndReleased()
    {
        const int Messages = 1000;
        const int Length = 300;                       // 300 KB: five 64 KiB chunks, ring grows past 256
        var q = new WriteQueue();
        for (var i = 0; i < Messages; i++)
        {
            Add(q, (byte)i, Length, retained: true, sequence: (uint)i);
        }

        Assert.Equal(Messages * Length, q.RetainedBytes);
        var sent = DrainInWrites(q, 4096);
        Assert.Equal(Messages * Length, sent.Length);
        for (var i = 0; i < Messages; i++)
        {
            Assert.True(sent.AsSpan(i * Length, Length).IndexOfAnyExcept((byte)i) < 0, $"message {i} damaged");
        }

        Assert.Equal(500, q.Release(500));
        Assert.Equal(500 * Length, q.RetainedBytes);
        Assert.Equal(500, q.Rewind());
        var again = DrainInWrites(q, ChunkSize);
        Assert.Equal(500 * Length, again.Length);
        for (var i = 0; i < 500; i++)
        {
            Assert.True(again.AsSpan(i * Length, Length).IndexOfAnyExcept((byte)(500 + i)) < 0, $"message {500 + i} damaged");
        }

        Assert.Equal(500, q.Release(Messages));
        Assert.Equal(0, q.Count);
        Assert.Equal(0, q.RetainedBytes);
    }

    [Fact]
    public void ManyMessages_MoreChunksHeldThanTheChunkRingHolds_GrowsWrapsAndKeepsEveryByte()
    {
        const int Length = 4000;                      // 16 to a 64 KiB chunk
        var q = new WriteQueue();
        for (var i = 0; i < 400; i++)                 // 25 chunks held: the 16-chunk ring grows
        {
            Add(q, (byte)i, Length, retained: true, sequence: (uint)i);
        }

        DrainInWrites(q, ChunkSize);
        Assert.Equal(300, q.Release(300));            // the oldest chunks leave; the ring's head moves on
        for (var i = 400; i < 1000; i++)              // 38 more chunks: the ring wraps and grows again
        {
            Add(q, (byte)i, Length, retained: true, sequence: (uint)i);
        }

        Assert.Equal(100, q.Rewind());                // sent and unacknowledged: queued again before the 600 unsent
        Assert.Equal(700, q.Pending);
        var sent = DrainInWrites(q, ChunkSize);
        Assert.Equal(700 * Length, sent.Length);
        for (var i = 0; i < 700; i++)
        {
            Assert.True(sent.AsSpan(i * Length, Length).IndexOfAnyExcept((byte)(300 + i)) < 0, $"message {300 + i} damaged");
        }

        Assert.Equal(700, q.Release(1000));
        Assert.Equal(0, q.Count);
        Assert.Equal(0, q.RetainedBytes);
    }

    [Fact]
    public void ManyMessages_RingWrapsThenGrows_OrderKept()
    {
        var q = new WriteQueue();
        for (var i = 0; i < 200; i++)
        {
            Add(q, (byte)i, 8);
        }

        Drain(q, out _);                              // head moves to ring index 200
        var expected = new List<(byte, int)>();
        for (var i = 0; i < 600; i++)                 // wraps the 256-entry ring, then grows it twice
        {
            Add(q, (byte)(i * 7), 8 + (i % 5), retained: i % 2 == 0, sequence: (uint)i);
            expected.Add(((byte)(i * 7), 8 + (i % 5)));
        }

        Assert.Equal(600, q.Count);
        Assert.Equal(Expected([.. expected]), DrainInWrites(q, 1000));
        Assert.Equal(600, q.Count);                   // sent plain entries wait behind retained ones
        Assert.Equal(300, q.Release(600));
        Assert.Equal(0, q.Count);
    }

    [Fact]
    public void RetainedBytes_CountsRetainedEntriesOnly()
    {
        var q = new WriteQueue();
        Add(q, 1, 100, retained: true, sequence: 0);
        Add(q, 2, 16);
        var pending = Add(q, 3, 50, retained: true, sequence: 1, commit: false);
        Assert.Equal(150, q.RetainedBytes);

        Drain(q, out _);
        Assert.Equal(150, q.RetainedBytes);
        q.Commit(pending.Id);
        Drain(q, out _);
        Assert.Equal(150, q.RetainedBytes);
        q.Release(1);
        Assert.Equal(50, q.RetainedBytes);
        q.Rewind();
        Assert.Equal(50, q.RetainedBytes);
        q.Clear();
        Assert.Equal(0, q.RetainedBytes);
    }

    [Fact]
    public void Release_AckCoversSlotStillBeingFilled_ChunkNotHandedToOtherUsers()
    {
        // A sender reserves under the lock and fills its slot after releasing it (MessagingNode);
        // an ACK covering that sequence number (stale peer state, spec §2.12) may arrive meanwhile.
        // WriteQueue.Clear keeps chunks out of the pool for exactly this reason; Release must too.
        var q = new WriteQueue();
        var slots = new List<SendSlot>();
        for (uint seq = 0; seq < ChunkSize / 4096; seq++)
        {
            slots.Add(q.Reserve(4096, retained: true, seq)); // fills the first chunk exactly, uncommitted
        }

        Add(q, 0xEE, 16);                             // the next message opens a second chunk
        q.Release((uint)slots.Count);

        var other = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            Array.Clear(other);
            slots[0].Span.Fill(0x5A);                 // the sender finishes writing its message
            Assert.NotEqual(0x5A, other[0]);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(other);
        }
    }

    [Fact]
    public void Claim_BatchCopiedAfterItsMessagesWereAcknowledged_StillHasTheirBytes()
    {
        // The socket writer claims messages under the lock and copies them out after releasing it; an
        // ACK (of an earlier connection's delivery, spec §2.7) may drop them meanwhile. Their chunk must
        // stay out of the pool until the batch is unpinned, or the copy would read someone else's bytes.
        var q = new WriteQueue();
        Add(q, 0xAA, 100, retained: true, sequence: 0);
        var batch = new WriteQueue.Batch();
        Assert.Equal(100, q.Claim(ChunkSize, batch));
        Add(q, 0xEE, ChunkSize - 50, retained: true, sequence: 1); // does not fit: the first chunk is no longer current
        q.Release(1);                                            // the claimed message is acknowledged

        var other = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            other.AsSpan().Fill(0x55);
            var copied = new byte[batch.Length];
            batch.CopyTo(copied);
            Assert.All(copied, b => Assert.Equal(0xAA, b));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(other);
        }

        q.Unpin(batch);
        Assert.Equal(0, batch.Length);
    }

    [Fact]
    public void Claim_AdjacentMessages_OneRangeAndEveryMessageCounted()
    {
        var q = new WriteQueue();
        Add(q, 1, 10);
        Add(q, 2, 20);
        var batch = new WriteQueue.Batch();

        Assert.Equal(30, q.Claim(ChunkSize, batch));

        Assert.Equal(2, batch.Messages);
        var copied = new byte[30];
        batch.CopyTo(copied);
        Assert.Equal(Expected((1, 10), (2, 20)), copied);
        q.Unpin(batch);
    }

    // ---- helpers ----------------------------------------------------------------------------------

    private static SendSlot Add(WriteQueue q, byte fill, int length, bool retained = false, uint sequence = 0, bool commit = true)
    {
        var slot = q.Reserve(length, retained, sequence);
        Assert.Equal(length, slot.Length);
        slot.Span.Fill(fill);
        if (commit)
        {
            Assert.True(q.Commit(slot.Id));
        }

        return slot;
    }

    private static byte[] Drain(WriteQueue q, out int messages)
    {
        var buffer = new byte[ChunkSize];
        var length = q.CopyOut(buffer, out messages);
        return buffer[..length];
    }

    /// <summary>Copies out everything sendable in writes of at most <paramref name="writeSize"/> bytes.</summary>
    private static byte[] DrainInWrites(WriteQueue q, int writeSize)
    {
        var all = new List<byte>();
        var buffer = new byte[writeSize];
        int length;
        while ((length = q.CopyOut(buffer, out var messages)) > 0)
        {
            Assert.True(messages > 0);
            all.AddRange(buffer.AsSpan(0, length));
        }

        return [.. all];
    }

    private static byte[] Expected(params (byte Fill, int Length)[] messages)
    {
        var bytes = new List<byte>();
        foreach (var (fill, length) in messages)
        {
            bytes.AddRange(Enumerable.Repeat(fill, length));
        }

        return [.. bytes];
    }
}
