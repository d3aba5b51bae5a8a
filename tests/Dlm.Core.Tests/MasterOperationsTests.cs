using Dlm.Protocol;
using static Dlm.Core.Tests.Fixture;

namespace Dlm.Core.Tests;

/// <summary>spec §4.9–§4.10 on the master: request and convert.</summary>
public sealed partial class MasterOperationsTests
{
    private readonly Rsb _rsb = NewRsb();
    private readonly RecordingEffects _fx = new();

    public static TheoryData<LockMode, LockMode> AllPairs() => ModeTablesTests.AllPairs();

    public static TheoryData<LockMode, LockMode> DownConversions()
    {
        var data = new TheoryData<LockMode, LockMode>();
        foreach (var g in Modes)
        {
            foreach (var r in Modes)
            {
                if (ModeTables.IsDownConversion(g, r))
                {
                    data.Add(g, r);
                }
            }
        }

        return data;
    }

    // ---- request ----

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void Request_SecondLockAgainstHolder_GrantedIffCompatibleElseQueuedWithBlocking(LockMode held, LockMode requested)
    {
        Request(_rsb, 1, held, _fx);
        Assert.Empty(_fx.Effects);
        var lkb = new Lkb(2, requested);

        var result = MasterOperations.Request(_rsb, lkb, _fx);

        if (ModeTables.Compatible(held, requested))
        {
            Assert.Equal(Errno.Ok, result);
            Assert.Equal(QueueStatus.Granted, lkb.Status);
            Assert.Equal(requested, lkb.GrantedMode);
            Assert.Equal(IV, lkb.RequestedMode);
            Assert.Empty(_rsb.Waiting);
            Assert.Empty(_fx.Effects);
        }
        else
        {
            Assert.Equal(Errno.InProgress, result);
            Assert.Equal(QueueStatus.Waiting, lkb.Status);
            Assert.Equal(IV, lkb.GrantedMode);
            Assert.Equal(requested, lkb.RequestedMode);
            Assert.Equal([2u], Ids(_rsb.Waiting));
            Assert.Equal([Effect.Blocking(1, requested)], _fx.Effects);
        }
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void Request_HolderWithoutBlockingCallback_NeverBlocking(LockMode held, LockMode requested)
    {
        Request(_rsb, 1, held, _fx, bast: false);
        var lkb = new Lkb(2, requested);

        var result = MasterOperations.Request(_rsb, lkb, _fx);

        Assert.Equal(ModeTables.Compatible(held, requested) ? Errno.Ok : Errno.InProgress, result);
        Assert.Empty(_fx.Effects);
    }

    [Theory]
    [InlineData(LockMode.ProtectedRead, LockMode.ConcurrentWrite)]
    [InlineData(LockMode.ConcurrentWrite, LockMode.ProtectedRead)]
    public void Request_MiddlePairRepeated_BlockingEveryTime(LockMode held, LockMode requested)
    {
        // spec §4.10: (PR, CW) / (CW, PR) send while highbast < EX, even if highbast == rqmode.
        Request(_rsb, 1, held, _fx);
        Request(_rsb, 2, requested, _fx, Errno.InProgress);
        Request(_rsb, 3, requested, _fx, Errno.InProgress);

        Assert.Equal([Effect.Blocking(1, requested), Effect.Blocking(1, requested)], _fx.Effects);
    }

    [Fact]
    public void Request_SameModeRepeated_SingleBlocking()
    {
        var holder = Request(_rsb, 1, PW, _fx);
        Request(_rsb, 2, PW, _fx, Errno.InProgress);
        Request(_rsb, 3, PW, _fx, Errno.InProgress);

        Assert.Equal([Effect.Blocking(1, PW)], _fx.Effects);
        Assert.Equal(PW, holder.HighBast);
    }

    [Fact]
    public void Request_LowerThenHigherMode_BlockingOnlyForHigher()
    {
        Request(_rsb, 1, EX, _fx);
        Request(_rsb, 2, PR, _fx, Errno.InProgress);
        Request(_rsb, 3, CR, _fx, Errno.InProgress);
        Request(_rsb, 4, PW, _fx, Errno.InProgress);

        Assert.Equal([Effect.Blocking(1, PR), Effect.Blocking(1, PW)], _fx.Effects);
    }

    [Fact]
    public void Request_CompatibleButBehindWaiter_QueuedWithoutBlocking()
    {
        Request(_rsb, 1, PR, _fx);
        Request(_rsb, 2, EX, _fx, Errno.InProgress);
        _fx.Clear();

        var lkb = Request(_rsb, 3, CR, _fx, Errno.InProgress);

        Assert.Equal(QueueStatus.Waiting, lkb.Status);
        Assert.Equal([2u, 3u], Ids(_rsb.Waiting));
        Assert.Empty(_fx.Effects);
    }

    [Fact]
    public void Request_NoQueueNotGrantable_AgainNoBlockingNotQueued()
    {
        Request(_rsb, 1, EX, _fx);

        var lkb = Request(_rsb, 2, PR, _fx, Errno.Again, LockFlags.NoQueue);

        Assert.Equal(QueueStatus.None, lkb.Status);
        Assert.Empty(_rsb.Waiting);
        Assert.Equal([1u], Ids(_rsb.Granted));
        Assert.Empty(_fx.Effects);
    }

    [Fact]
    public void Request_NoQueueGrantable_Granted()
    {
        Request(_rsb, 1, PR, _fx);

        var lkb = Request(_rsb, 2, PR, _fx, Errno.Ok, LockFlags.NoQueue);

        Assert.Equal(QueueStatus.Granted, lkb.Status);
    }

    // Lock 1 granted PR, lock 2 granted PR and converting to PW (queued, lock 1 got a PW blocking callback).
    private void GrantedAndConverting()
    {
        var one = Request(_rsb, 1, PR, _fx);
        var two = Request(_rsb, 2, PR, _fx);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, two, PW, LockFlags.None, _fx));
        Assert.Equal([Effect.Blocking(1, PW)], _fx.Effects);
        Assert.Equal(PW, one.HighBast);
        _fx.Clear();
    }

    [Fact]
    public void Request_NoQueueBast_AgainWithBlockingToGrantedAndConverting()
    {
        GrantedAndConverting();

        var lkb = Request(_rsb, 3, EX, _fx, Errno.Again, LockFlags.NoQueue | LockFlags.NoQueueBast);

        Assert.Equal(QueueStatus.None, lkb.Status);
        Assert.Equal([Effect.Blocking(1, EX), Effect.Blocking(2, EX)], _fx.Effects);
    }

    [Fact]
    public void Request_NoQueueWithoutNoQueueBast_NoBlockingToConverting()
    {
        GrantedAndConverting();

        Request(_rsb, 3, EX, _fx, Errno.Again, LockFlags.NoQueue);

        Assert.Empty(_fx.Effects);
    }

    [Fact]
    public void Request_NoQueueBastCompatibleWithConverting_OnlyConflictingGetBlocking()
    {
        GrantedAndConverting();

        // CW: conflicts with the PR holders (middle pair), lock 1's highbast PW < EX, lock 2's NL.
        Request(_rsb, 3, CW, _fx, Errno.Again, LockFlags.NoQueue | LockFlags.NoQueueBast);

        Assert.Equal([Effect.Blocking(1, CW), Effect.Blocking(2, CW)], _fx.Effects);
        _fx.Clear();

        // CR is compatible with everybody's granted mode, but not grantable behind the conversion.
        Request(_rsb, 4, CR, _fx, Errno.Again, LockFlags.NoQueue | LockFlags.NoQueueBast);
        Assert.Empty(_fx.Effects);
    }

    [Fact]
    public void Request_Expedite_NullGrantedIgnoringQueues()
    {
        Request(_rsb, 1, EX, _fx);
        Request(_rsb, 2, PR, _fx, Errno.InProgress);
        Request(_rsb, 3, NL, _fx, Errno.InProgress);

        var expedited = Request(_rsb, 4, NL, _fx, Errno.Ok, LockFlags.Expedite);

        Assert.Equal(QueueStatus.Granted, expedited.Status);
        Assert.Equal(NL, expedited.GrantedMode);
        Assert.Equal([2u, 3u], Ids(_rsb.Waiting));
    }

    [Fact]
    public void Request_HeadQue_PutAtHeadOfWaiting()
    {
        var holder = Request(_rsb, 1, EX, _fx);
        Request(_rsb, 2, PR, _fx, Errno.InProgress);
        Request(_rsb, 3, CR, _fx, Errno.InProgress, LockFlags.HeadQue);

        Assert.Equal([3u, 2u], Ids(_rsb.Waiting));

        _fx.Clear();
        Assert.Equal(Errno.Unlocked, MasterOperations.Unlock(_rsb, holder, LockFlags.None, _fx));
        Assert.Equal([3u, 2u], _fx.GrantedIds);
    }

    [Fact]
    public void Request_AltPrNotGrantableInRequestedMode_GrantedPrWithAltMode()
    {
        Request(_rsb, 1, PR, _fx);

        var lkb = Request(_rsb, 2, EX, _fx, Errno.Ok, LockFlags.AltPr);

        Assert.Equal(PR, lkb.GrantedMode);
        Assert.Equal(StatusBlockFlags.AltMode, lkb.SbFlags);
        Assert.Empty(_fx.Effects);
    }

    [Fact]
    public void Request_AltCwNeitherGrantable_QueuedInRequestedMode()
    {
        Request(_rsb, 1, EX, _fx);

        var lkb = Request(_rsb, 2, PR, _fx, Errno.InProgress, LockFlags.AltCw);

        Assert.Equal(PR, lkb.RequestedMode);
        Assert.Equal(StatusBlockFlags.None, lkb.SbFlags);
        Assert.Equal([Effect.Blocking(1, PR)], _fx.Effects);
    }

    // ---- convert ----

    [Theory]
    [MemberData(nameof(DownConversions))]
    public void Convert_DownConversion_AlwaysGranted(LockMode granted, LockMode requested)
    {
        var lkb = Request(_rsb, 1, granted, _fx);
        Request(_rsb, 2, NL, _fx);
        Request(_rsb, 3, EX, _fx, Errno.InProgress);
        _fx.Clear();

        var result = MasterOperations.Convert(_rsb, lkb, requested, LockFlags.None, _fx);

        Assert.Equal(Errno.Ok, result);
        Assert.Equal(QueueStatus.Granted, lkb.Status);
        Assert.Equal(requested, lkb.GrantedMode);
        Assert.Equal(IV, lkb.RequestedMode);
        Assert.Empty(_rsb.Converting);
        Assert.Equal(requested == NL, _fx.GrantedIds.Contains(3u));
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void Convert_FromNullAgainstHolder_GrantedInPlaceIffCompatibleElseQueued(LockMode held, LockMode requested)
    {
        Request(_rsb, 1, held, _fx);
        var lkb = Request(_rsb, 2, NL, _fx);
        _fx.Clear();

        var result = MasterOperations.Convert(_rsb, lkb, requested, LockFlags.None, _fx);

        if (ModeTables.Compatible(held, requested))
        {
            Assert.Equal(Errno.Ok, result);
            Assert.Equal(QueueStatus.Granted, lkb.Status);
            Assert.Equal(requested, lkb.GrantedMode);
            Assert.Empty(_fx.Effects);
        }
        else
        {
            Assert.Equal(Errno.InProgress, result);
            Assert.Equal(QueueStatus.Convert, lkb.Status);
            Assert.Equal(NL, lkb.GrantedMode);
            Assert.Equal(requested, lkb.RequestedMode);
            Assert.Equal([2u], Ids(_rsb.Converting));
            Assert.Equal([1u], Ids(_rsb.Granted));
            Assert.Equal([Effect.Blocking(1, requested)], _fx.Effects);
        }
    }

    [Fact]
    public void Convert_UpConversionCompatibleWithWaitersQueued_GrantedInPlace()
    {
        var lkb = Request(_rsb, 1, CR, _fx);
        Request(_rsb, 2, EX, _fx, Errno.InProgress);
        _fx.Clear();

        Assert.Equal(Errno.Ok, MasterOperations.Convert(_rsb, lkb, PR, LockFlags.None, _fx));

        Assert.Equal(PR, lkb.GrantedMode);
        Assert.Equal([2u], Ids(_rsb.Waiting));
        // The holder was granted again (highbast reset), so grant_pending blocks it for the EX waiter.
        Assert.Equal([Effect.Blocking(1, EX)], _fx.Effects);
    }

    [Fact]
    public void Convert_NoQueueNotGrantable_AgainStaysGranted()
    {
        Request(_rsb, 1, PR, _fx);
        var lkb = Request(_rsb, 2, PR, _fx);

        Assert.Equal(Errno.Again, MasterOperations.Convert(_rsb, lkb, EX, LockFlags.NoQueue, _fx));

        Assert.Equal(QueueStatus.Granted, lkb.Status);
        Assert.Equal(PR, lkb.GrantedMode);
        Assert.Empty(_rsb.Converting);
        Assert.Empty(_fx.Effects);
    }

    [Fact]
    public void Convert_NoQueueBast_AgainWithBlockingToGrantedAndConverting()
    {
        GrantedAndConverting();
        var four = Request(_rsb, 4, NL, _fx, Errno.Ok, LockFlags.NoOrder); // NOORDER: not behind the conversion
        _fx.Clear();

        var result = MasterOperations.Convert(_rsb, four, EX, LockFlags.NoQueue | LockFlags.NoQueueBast, _fx);

        Assert.Equal(Errno.Again, result);
        Assert.Equal(NL, four.GrantedMode);
        Assert.Equal([Effect.Blocking(1, EX), Effect.Blocking(2, EX)], _fx.Effects);
    }

    [Fact]
    public void Convert_NotGranted_Busy()
    {
        Request(_rsb, 1, EX, _fx);
        var waiting = Request(_rsb, 2, PR, _fx, Errno.InProgress);

        Assert.Equal(Errno.Busy, MasterOperations.Convert(_rsb, waiting, CR, LockFlags.None, _fx));
        Assert.Equal(QueueStatus.Waiting, waiting.Status);
    }

    [Fact]
    public void Convert_QueCvtBehindExistingConversion_QueuedThenGrantedInOrder()
    {
        var a = Request(_rsb, 1, NL, _fx);
        var b = Request(_rsb, 2, NL, _fx);
        var c = Request(_rsb, 3, PR, _fx);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, a, EX, LockFlags.None, _fx));
        _fx.Clear();

        // NL→CR is compatible with everything granted; only QUECVT makes it wait.
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, b, CR, LockFlags.QueCvt, _fx));
        Assert.Equal([1u, 2u], Ids(_rsb.Converting));
        Assert.Empty(_fx.Effects);

        Assert.Equal(Errno.Unlocked, MasterOperations.Unlock(_rsb, c, LockFlags.None, _fx));

        Assert.Equal([Effect.Granted(1), Effect.Blocking(1, CR)], _fx.Effects);
        Assert.Equal(EX, a.GrantedMode);
        Assert.Equal([2u], Ids(_rsb.Converting));
    }

    [Fact]
    public void Convert_WithoutQueCvtBesideExistingConversion_GrantedInPlace()
    {
        var a = Request(_rsb, 1, NL, _fx);
        var b = Request(_rsb, 2, NL, _fx);
        Request(_rsb, 3, PR, _fx);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, a, EX, LockFlags.None, _fx));

        Assert.Equal(Errno.Ok, MasterOperations.Convert(_rsb, b, CR, LockFlags.None, _fx));
        Assert.Equal(CR, b.GrantedMode);
    }

    [Fact]
    public void Convert_HeadQue_PutAtHeadOfConvertQueue()
    {
        var a = Request(_rsb, 1, NL, _fx);
        var b = Request(_rsb, 2, NL, _fx);
        var blocker = Request(_rsb, 3, PR, _fx);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, a, EX, LockFlags.None, _fx));

        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, b, PW, LockFlags.HeadQue, _fx));
        Assert.Equal([2u, 1u], Ids(_rsb.Converting));

        _fx.Clear();
        MasterOperations.Unlock(_rsb, blocker, LockFlags.None, _fx);
        Assert.Equal([Effect.Granted(2), Effect.Blocking(2, EX)], _fx.Effects);
        Assert.Equal(PW, b.GrantedMode);
        Assert.Equal(QueueStatus.Convert, a.Status);
    }

    // Locks 1 and 2 granted CR; lock 1 converting CR→EX (queued, lock 2 got an EX blocking callback).
    private (Lkb One, Lkb Two) ClassicDeadlock()
    {
        var one = Request(_rsb, 1, CR, _fx);
        var two = Request(_rsb, 2, CR, _fx);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, one, EX, LockFlags.None, _fx));
        Assert.Equal([Effect.Blocking(2, EX)], _fx.Effects);
        _fx.Clear();
        return (one, two);
    }

    [Fact]
    public void Convert_ConversionDeadlock_DeadlockRevertedToOldMode()
    {
        var (_, two) = ClassicDeadlock();

        var result = MasterOperations.Convert(_rsb, two, EX, LockFlags.None, _fx);

        Assert.Equal(Errno.Deadlock, result);
        Assert.Equal(QueueStatus.Granted, two.Status);
        Assert.Equal(CR, two.GrantedMode);
        Assert.Equal(IV, two.RequestedMode);
        Assert.Equal([2u], Ids(_rsb.Granted));
        Assert.Equal([1u], Ids(_rsb.Converting));
        Assert.Empty(_fx.Effects);
    }

    [Fact]
    public void Convert_ConversionDeadlockWithConvDeadlk_DemotedOtherGrantedThenQueued()
    {
        var (one, two) = ClassicDeadlock();

        var result = MasterOperations.Convert(_rsb, two, EX, LockFlags.ConvDeadlk, _fx);

        Assert.Equal(Errno.InProgress, result);
        Assert.Equal(EX, one.GrantedMode);
        Assert.Equal(QueueStatus.Granted, one.Status);
        Assert.Equal(QueueStatus.Convert, two.Status);
        Assert.Equal(NL, two.GrantedMode);
        Assert.Equal(EX, two.RequestedMode);
        Assert.Equal(StatusBlockFlags.Demoted, two.SbFlags);
        Assert.Equal([Effect.Granted(1), Effect.Blocking(1, EX)], _fx.Effects);
    }

    [Fact]
    public void Convert_ConvDeadlkDemotionMakesItGrantable_GrantedWithDemoted()
    {
        // 1: CR→CW queued behind 2's PR; 2: PR→CW QUECVT would deadlock (its PR blocks CW).
        var one = Request(_rsb, 1, CR, _fx);
        var two = Request(_rsb, 2, PR, _fx);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, one, CW, LockFlags.None, _fx));
        _fx.Clear();

        var result = MasterOperations.Convert(_rsb, two, CW, LockFlags.QueCvt | LockFlags.ConvDeadlk, _fx);

        Assert.Equal(Errno.Ok, result);
        Assert.Equal(CW, one.GrantedMode);
        Assert.Equal(CW, two.GrantedMode);
        Assert.Equal(QueueStatus.Granted, two.Status);
        Assert.Equal(StatusBlockFlags.Demoted, two.SbFlags);
        Assert.Empty(_rsb.Converting);
        Assert.Equal([Effect.Granted(1)], _fx.Effects);
    }

    [Fact]
    public void Convert_ConversionDeadlockWithNoDlckWt_QueuedAndLaterSelfBlocking()
    {
        // 3 holds CR (blocks EX); 1 converts NL→EX (queued); 2 holds PR (NOORDER) and converts PR→EX.
        var one = Request(_rsb, 1, NL, _fx);
        var three = Request(_rsb, 3, CR, _fx);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, one, EX, LockFlags.None, _fx));
        var two = Request(_rsb, 2, PR, _fx, Errno.Ok, LockFlags.NoOrder);
        Assert.Equal([Effect.Blocking(3, EX)], _fx.Effects);
        _fx.Clear();

        var result = MasterOperations.Convert(_rsb, two, EX, LockFlags.NoDlckWt, _fx);

        Assert.Equal(Errno.InProgress, result);
        Assert.Equal(QueueStatus.Convert, two.Status);
        Assert.Equal(PR, two.GrantedMode);
        Assert.Equal([1u, 2u], Ids(_rsb.Converting));
        Assert.Empty(_fx.Effects); // 3's highbast is already EX

        MasterOperations.Unlock(_rsb, three, LockFlags.None, _fx);

        Assert.Equal([Effect.Blocking(2, EX)], _fx.Effects);
        Assert.Equal(EX, two.HighBast);
        _fx.Clear();
        MasterOperations.GrantPending(_rsb, _fx);
        Assert.Empty(_fx.Effects); // highbast throttles the second self-blocking callback
    }

    [Fact]
    public void Convert_DeadlockWithNoQueue_AgainNotDeadlock()
    {
        var (_, two) = ClassicDeadlock();

        Assert.Equal(Errno.Again, MasterOperations.Convert(_rsb, two, EX, LockFlags.NoQueue, _fx));
        Assert.Equal(CR, two.GrantedMode);
    }

    [Fact]
    public void Convert_Granted_ResetsHighBastAndStatusFlags()
    {
        var (_, two) = ClassicDeadlock();
        Assert.Equal(EX, two.HighBast);

        Assert.Equal(Errno.Ok, MasterOperations.Convert(_rsb, two, NL, LockFlags.None, _fx));

        Assert.Equal(NL, two.HighBast);
        Assert.Equal(StatusBlockFlags.None, two.SbFlags);
    }
}
