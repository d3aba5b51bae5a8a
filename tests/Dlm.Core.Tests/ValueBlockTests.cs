using Dlm.Protocol;
using static Dlm.Core.Tests.Fixture;

namespace Dlm.Core.Tests;

/// <summary>LVB rules of spec §4.14 with the §9.4.3 VALNOTVALID correction, through the master operations.</summary>
public sealed class ValueBlockTests
{
    private const int LvbLength = 16;
    private readonly Rsb _rsb = NewRsb(LvbLength);
    private readonly RecordingEffects _fx = new();

    private static byte[] Filled(byte value) => Enumerable.Repeat(value, LvbLength).ToArray();

    // A lock with an LVB buffer pre-filled with <paramref name="fill"/>.
    private Lkb RequestWithLvb(uint id, LockMode mode, int expected = Errno.Ok, byte fill = 0xEE, LockFlags flags = LockFlags.ValBlk)
    {
        var lkb = new Lkb(id, mode, flags) { ValueBlock = Filled(fill) };
        Assert.Equal(expected, MasterOperations.Request(_rsb, lkb, _fx));
        return lkb;
    }

    // A NL lock without VALBLK that keeps the resource (and so its LVB) alive.
    private Lkb Keeper() => Request(_rsb, 99, NL, _fx);

    [Fact]
    public void Unlock_ExclusiveWritesWithValBlk_NextPrWaiterReadsWithSequence()
    {
        var writer = RequestWithLvb(1, EX);
        writer.ValueBlock = Filled(0x42);
        var reader = RequestWithLvb(2, PR, Errno.InProgress);

        Assert.Equal(Errno.Unlocked, MasterOperations.Unlock(_rsb, writer, LockFlags.ValBlk, _fx));

        Assert.Equal(QueueStatus.Granted, reader.Status);
        Assert.Equal(Filled(0x42), reader.ValueBlock);
        Assert.Equal(1u, reader.LvbSeq);
        Assert.Equal(1u, _rsb.LvbSeq);
        Assert.Equal(StatusBlockFlags.None, reader.SbFlags);
    }

    [Fact]
    public void Request_AfterExclusiveWrites_LaterReaderGetsValueAndSequence()
    {
        Keeper();
        var writer = RequestWithLvb(1, EX);
        writer.ValueBlock = Filled(0x01);
        MasterOperations.Unlock(_rsb, writer, LockFlags.ValBlk, _fx);
        var second = RequestWithLvb(2, EX);
        second.ValueBlock = Filled(0x02);
        MasterOperations.Unlock(_rsb, second, LockFlags.ValBlk, _fx);

        var reader = RequestWithLvb(3, PR);

        Assert.Equal(Filled(0x02), reader.ValueBlock);
        Assert.Equal(2u, reader.LvbSeq);
    }

    [Fact]
    public void Request_NoResourceLvbYet_BufferUntouchedNoFlag()
    {
        var reader = RequestWithLvb(1, PR, fill: 0xAA);

        Assert.Equal(Filled(0xAA), reader.ValueBlock);
        Assert.Equal(0u, reader.LvbSeq);
        Assert.Equal(StatusBlockFlags.None, reader.SbFlags);
        Assert.Null(_rsb.ValueBlock);
    }

    [Fact]
    public void Request_WithoutValBlk_BufferUntouched()
    {
        Keeper();
        var writer = RequestWithLvb(1, EX);
        writer.ValueBlock = Filled(0x42);
        MasterOperations.Unlock(_rsb, writer, LockFlags.ValBlk, _fx);

        var reader = RequestWithLvb(2, PR, fill: 0xAA, flags: LockFlags.None);

        Assert.Equal(Filled(0xAA), reader.ValueBlock);
        Assert.Equal(0u, reader.LvbSeq);
    }

    [Fact]
    public void Convert_ExclusiveToNull_WritesResourceLvb()
    {
        var writer = RequestWithLvb(1, EX);
        writer.ValueBlock = Filled(0x33);

        Assert.Equal(Errno.Ok, MasterOperations.Convert(_rsb, writer, NL, LockFlags.ValBlk, _fx));

        Assert.Equal(Filled(0x33), _rsb.ValueBlock);
        Assert.Equal(1u, _rsb.LvbSeq);
        Assert.Equal(1u, writer.LvbSeq);
        var reader = RequestWithLvb(2, CR);
        Assert.Equal(Filled(0x33), reader.ValueBlock);
        Assert.Equal(1u, reader.LvbSeq);
    }

    [Fact]
    public void Convert_ProtectedWriteToExclusive_ReturnsNotWrites()
    {
        var writer = RequestWithLvb(1, EX);
        writer.ValueBlock = Filled(0x10);
        MasterOperations.Convert(_rsb, writer, NL, LockFlags.ValBlk, _fx);
        var pw = RequestWithLvb(2, PW, fill: 0x20);
        Assert.Equal(Filled(0x10), pw.ValueBlock);
        pw.ValueBlock = Filled(0x30);

        Assert.Equal(Errno.Ok, MasterOperations.Convert(_rsb, pw, EX, LockFlags.ValBlk, _fx));

        Assert.Equal(Filled(0x10), pw.ValueBlock); // R: the resource value came back
        Assert.Equal(Filled(0x10), _rsb.ValueBlock);
        Assert.Equal(1u, _rsb.LvbSeq);
    }

    [Fact]
    public void Unlock_IvValBlk_NextReaderGetsValNotValidUntilExclusiveWrite()
    {
        Keeper();
        var first = RequestWithLvb(1, EX);
        first.ValueBlock = Filled(0x01);
        MasterOperations.Unlock(_rsb, first, LockFlags.ValBlk, _fx);
        var invalidator = RequestWithLvb(2, EX);
        MasterOperations.Unlock(_rsb, invalidator, LockFlags.IvValBlk, _fx);
        Assert.True(_rsb.ValueNotValid);
        Assert.Equal(1u, _rsb.LvbSeq);

        var reader = RequestWithLvb(3, PR);

        Assert.Equal(StatusBlockFlags.ValNotValid, reader.SbFlags);
        Assert.Equal(Filled(0x01), reader.ValueBlock);
        MasterOperations.Unlock(_rsb, reader, LockFlags.None, _fx);

        var rewriter = RequestWithLvb(4, EX);
        Assert.Equal(StatusBlockFlags.ValNotValid, rewriter.SbFlags);
        rewriter.ValueBlock = Filled(0x04);
        Assert.Equal(Errno.Ok, MasterOperations.Convert(_rsb, rewriter, NL, LockFlags.ValBlk, _fx));
        Assert.False(_rsb.ValueNotValid);
        Assert.Equal(StatusBlockFlags.None, rewriter.SbFlags);

        var later = RequestWithLvb(5, PR);
        Assert.Equal(StatusBlockFlags.None, later.SbFlags);
        Assert.Equal(Filled(0x04), later.ValueBlock);
        Assert.Equal(2u, later.LvbSeq);
    }

    [Fact]
    public void Convert_DownWithIvValBlk_ResourceInvalidLockNotFlagged()
    {
        // spec §9.4.3: the W case with IVVALBLK marks the resource only.
        Keeper();
        var writer = RequestWithLvb(1, EX);
        writer.ValueBlock = Filled(0x01);
        MasterOperations.Convert(_rsb, writer, NL, LockFlags.ValBlk, _fx);
        MasterOperations.Convert(_rsb, writer, EX, LockFlags.ValBlk, _fx);

        Assert.Equal(Errno.Ok, MasterOperations.Convert(_rsb, writer, NL, LockFlags.ValBlk | LockFlags.IvValBlk, _fx));

        Assert.True(_rsb.ValueNotValid);
        Assert.Equal(StatusBlockFlags.None, writer.SbFlags);
        Assert.Equal(1u, _rsb.LvbSeq);
    }

    [Fact]
    public void Convert_NoTransferCellWhileInvalid_LockFlagged()
    {
        // spec §9.4.3 (b): the "–" cells (PR→CR) still report VALNOTVALID.
        Keeper();
        var writer = RequestWithLvb(1, EX);
        writer.ValueBlock = Filled(0x01);
        MasterOperations.Convert(_rsb, writer, NL, LockFlags.ValBlk | LockFlags.IvValBlk, _fx);
        Assert.True(_rsb.ValueNotValid);
        var reader = RequestWithLvb(2, PR);

        Assert.Equal(Errno.Ok, MasterOperations.Convert(_rsb, reader, CR, LockFlags.ValBlk, _fx));

        Assert.Equal(StatusBlockFlags.ValNotValid, reader.SbFlags);
    }

    [Fact]
    public void Request_InvalidButNoResourceLvb_NoFlag()
    {
        // spec §9.4.3: the R case returns early (no flag) when the resource has no LVB.
        Keeper();
        var invalidator = RequestWithLvb(1, EX);
        MasterOperations.Unlock(_rsb, invalidator, LockFlags.IvValBlk, _fx);
        Assert.True(_rsb.ValueNotValid);
        Assert.Null(_rsb.ValueBlock);

        var reader = RequestWithLvb(2, PR, fill: 0xAA);

        Assert.Equal(StatusBlockFlags.None, reader.SbFlags);
        Assert.Equal(Filled(0xAA), reader.ValueBlock);
    }

    [Fact]
    public void Unlock_BelowProtectedWrite_NothingWritten()
    {
        Keeper();
        var pr = RequestWithLvb(1, PR);
        pr.ValueBlock = Filled(0x55);

        MasterOperations.Unlock(_rsb, pr, LockFlags.ValBlk, _fx);

        Assert.Null(_rsb.ValueBlock);
        Assert.Equal(0u, _rsb.LvbSeq);
    }

    [Fact]
    public void Unlock_ProtectedWriteWithoutValBlk_NothingWritten()
    {
        Keeper();
        var pw = RequestWithLvb(1, PW, flags: LockFlags.None);
        pw.ValueBlock = Filled(0x55);

        MasterOperations.Unlock(_rsb, pw, LockFlags.None, _fx);

        Assert.Null(_rsb.ValueBlock);
    }

    [Fact]
    public void Unlock_ConvertingFromProtectedWrite_WritesWithOldGrantedMode()
    {
        // spec §9.4.1: a queued conversion unlocked by a plain UNLOCK writes back per its granted mode.
        var pw = RequestWithLvb(1, PW);
        Request(_rsb, 2, CR, _fx);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, pw, EX, LockFlags.ValBlk, _fx));
        pw.ValueBlock = Filled(0x77);

        MasterOperations.Unlock(_rsb, pw, LockFlags.None, _fx);

        Assert.Equal(Filled(0x77), _rsb.ValueBlock);
        Assert.Equal(1u, _rsb.LvbSeq);
    }

    [Fact]
    public void Unlock_WaitingRequest_NothingWritten()
    {
        Request(_rsb, 1, PR, _fx);
        var waiting = RequestWithLvb(2, EX, Errno.InProgress);
        waiting.ValueBlock = Filled(0x77);

        MasterOperations.Unlock(_rsb, waiting, LockFlags.ValBlk, _fx);

        Assert.Null(_rsb.ValueBlock);
    }

    [Fact]
    public void Unlock_LastLock_ResourceLvbDropped()
    {
        var writer = RequestWithLvb(1, EX);
        writer.ValueBlock = Filled(0x42);

        MasterOperations.Unlock(_rsb, writer, LockFlags.ValBlk, _fx);

        Assert.True(_rsb.IsUnused);
        Assert.Null(_rsb.ValueBlock);
        var reader = RequestWithLvb(2, PR, fill: 0xAA);
        Assert.Equal(Filled(0xAA), reader.ValueBlock);
    }

    [Fact]
    public void Unlock_NotLastLock_ResourceLvbKeptUntilLastUnlock()
    {
        var keeper = Keeper();
        var writer = RequestWithLvb(1, EX);
        writer.ValueBlock = Filled(0x42);
        MasterOperations.Unlock(_rsb, writer, LockFlags.ValBlk, _fx);
        Assert.Equal(Filled(0x42), _rsb.ValueBlock);

        MasterOperations.Unlock(_rsb, keeper, LockFlags.None, _fx);

        Assert.Null(_rsb.ValueBlock);
    }
}
