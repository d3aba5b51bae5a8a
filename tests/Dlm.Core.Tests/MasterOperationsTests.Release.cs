using Dlm.Protocol;
using static Dlm.Core.Tests.Fixture;

namespace Dlm.Core.Tests;

/// <summary>spec §4.9–§4.10 on the master: unlock, cancel and grant_pending's blocking callbacks.</summary>
public sealed partial class MasterOperationsTests
{
    // ---- unlock ----

    [Fact]
    public void Unlock_GrantedHolder_WaitersGrantedInFifoOrderThenBlocking()
    {
        var holder = Request(_rsb, 1, EX, _fx);
        Request(_rsb, 2, PR, _fx, Errno.InProgress);
        Request(_rsb, 3, CR, _fx, Errno.InProgress);
        Request(_rsb, 4, EX, _fx, Errno.InProgress);
        Request(_rsb, 5, PR, _fx, Errno.InProgress);
        _fx.Clear();

        var result = MasterOperations.Unlock(_rsb, holder, LockFlags.None, _fx);

        Assert.Equal(Errno.Unlocked, result);
        Assert.Equal(QueueStatus.None, holder.Status);
        Assert.DoesNotContain(holder, _rsb.Granted);
        Assert.Equal([4u, 5u], Ids(_rsb.Waiting)); // 5 (PR) is compatible but may not pass 4 (FIFO)
        Assert.Equal(
            [Effect.Granted(2), Effect.Granted(3), Effect.Blocking(3, EX), Effect.Blocking(2, EX)],
            _fx.Effects);
        Assert.Equal([3u, 2u], Ids(_rsb.Granted)); // newly granted at the head (spec §4.6)
    }

    [Fact]
    public void Unlock_SuccessiveHolders_EachWaiterGrantedInTurn()
    {
        var one = Request(_rsb, 1, EX, _fx);
        var two = Request(_rsb, 2, EX, _fx, Errno.InProgress);
        var three = Request(_rsb, 3, PW, _fx, Errno.InProgress);
        Request(_rsb, 4, CR, _fx, Errno.InProgress);
        _fx.Clear();

        MasterOperations.Unlock(_rsb, one, LockFlags.None, _fx);
        Assert.Equal([2u], _fx.GrantedIds);
        _fx.Clear();
        MasterOperations.Unlock(_rsb, two, LockFlags.None, _fx);
        Assert.Equal([3u, 4u], _fx.GrantedIds);
        Assert.Equal(PW, three.GrantedMode);
        Assert.Empty(_rsb.Waiting);
    }

    [Fact]
    public void Unlock_ConvertingLock_RemovedAndWaiterGranted()
    {
        // spec §9.4.1: a plain unlock reaches locks on any queue.
        var one = Request(_rsb, 1, PR, _fx);
        Request(_rsb, 2, PR, _fx);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, one, EX, LockFlags.None, _fx));
        var three = Request(_rsb, 3, PR, _fx, Errno.InProgress); // behind the conversion
        _fx.Clear();

        var result = MasterOperations.Unlock(_rsb, one, LockFlags.None, _fx);

        Assert.Equal(Errno.Unlocked, result);
        Assert.Equal(QueueStatus.None, one.Status);
        Assert.Empty(_rsb.Converting);
        Assert.Equal(QueueStatus.Granted, three.Status);
        Assert.Equal([Effect.Granted(3)], _fx.Effects);
    }

    [Fact]
    public void Unlock_WaitingLock_RemovedAndNextWaiterGranted()
    {
        Request(_rsb, 1, PR, _fx);
        var two = Request(_rsb, 2, EX, _fx, Errno.InProgress);
        Request(_rsb, 3, CR, _fx, Errno.InProgress);
        _fx.Clear();

        var result = MasterOperations.Unlock(_rsb, two, LockFlags.None, _fx);

        Assert.Equal(Errno.Unlocked, result);
        Assert.Equal(QueueStatus.None, two.Status);
        Assert.Empty(_rsb.Waiting);
        Assert.Equal([Effect.Granted(3)], _fx.Effects);
    }

    [Fact]
    public void Unlock_PendingConversionsBeforeWaiters_ConversionGrantedFirst()
    {
        var holder = Request(_rsb, 1, EX, _fx);
        var two = Request(_rsb, 2, NL, _fx);
        Request(_rsb, 3, PR, _fx, Errno.InProgress);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, two, CR, LockFlags.None, _fx));
        _fx.Clear();

        MasterOperations.Unlock(_rsb, holder, LockFlags.None, _fx);

        Assert.Equal([Effect.Granted(2), Effect.Granted(3)], _fx.Effects);
    }

    // ---- cancel ----

    [Fact]
    public void Cancel_WaitingRequest_CancelledAndRemoved()
    {
        Request(_rsb, 1, PR, _fx);
        var two = Request(_rsb, 2, EX, _fx, Errno.InProgress);
        Request(_rsb, 3, CR, _fx, Errno.InProgress);
        _fx.Clear();

        var result = MasterOperations.Cancel(_rsb, two, _fx);

        Assert.Equal(Errno.Cancelled, result);
        Assert.Equal(QueueStatus.None, two.Status);
        Assert.DoesNotContain(two, _rsb.Waiting);
        Assert.Equal([Effect.Granted(3)], _fx.Effects);
    }

    [Fact]
    public void Cancel_Conversion_BackToGrantedAtOldMode()
    {
        var one = Request(_rsb, 1, PR, _fx);
        Request(_rsb, 2, PR, _fx);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, one, EX, LockFlags.None, _fx));
        var three = Request(_rsb, 3, PR, _fx, Errno.InProgress);
        _fx.Clear();

        var result = MasterOperations.Cancel(_rsb, one, _fx);

        Assert.Equal(Errno.Cancelled, result);
        Assert.Equal(QueueStatus.Granted, one.Status);
        Assert.Equal(PR, one.GrantedMode);
        Assert.Equal(IV, one.RequestedMode);
        Assert.Contains(one, _rsb.Granted);
        Assert.Empty(_rsb.Converting);
        Assert.Equal(QueueStatus.Granted, three.Status); // grant_pending ran
        Assert.Equal([Effect.Granted(3)], _fx.Effects);
    }

    [Fact]
    public void Cancel_GrantedLock_ZeroAndNothingChanges()
    {
        var one = Request(_rsb, 1, PR, _fx);
        Request(_rsb, 2, EX, _fx, Errno.InProgress);
        _fx.Clear();

        var result = MasterOperations.Cancel(_rsb, one, _fx);

        Assert.Equal(Errno.Ok, result);
        Assert.Equal(QueueStatus.Granted, one.Status);
        Assert.Equal(PR, one.GrantedMode);
        Assert.Equal([1u], Ids(_rsb.Granted));
        Assert.Equal([2u], Ids(_rsb.Waiting));
        Assert.Empty(_fx.Effects); // no grant_pending, hence no blocking callback either
    }

    [Fact]
    public void Cancel_DemotedConversion_StatusBlockFlagsReset()
    {
        var one = Request(_rsb, 1, CR, _fx);
        var two = Request(_rsb, 2, CR, _fx);
        var three = Request(_rsb, 3, CR, _fx);
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, one, EX, LockFlags.None, _fx));
        Assert.Equal(Errno.InProgress, MasterOperations.Convert(_rsb, two, EX, LockFlags.ConvDeadlk, _fx));
        Assert.Equal(StatusBlockFlags.Demoted, two.SbFlags);
        Assert.Equal(NL, two.GrantedMode);
        Assert.Equal(QueueStatus.Granted, three.Status);

        Assert.Equal(Errno.Cancelled, MasterOperations.Cancel(_rsb, two, _fx));

        Assert.Equal(NL, two.GrantedMode);
        Assert.Equal(StatusBlockFlags.None, two.SbFlags);
    }

    [Fact]
    public void Unlock_AfterAltModeGrant_StatusBlockFlagsReset()
    {
        Request(_rsb, 1, PR, _fx);
        var two = Request(_rsb, 2, EX, _fx, Errno.Ok, LockFlags.AltPr);
        Assert.Equal(StatusBlockFlags.AltMode, two.SbFlags);

        Assert.Equal(Errno.Unlocked, MasterOperations.Unlock(_rsb, two, LockFlags.None, _fx));

        Assert.Equal(StatusBlockFlags.None, two.SbFlags);
    }

    // ---- grant_pending blocking callbacks ----

    [Fact]
    public void GrantPending_HighBastAlreadyAtHigh_NoSecondBlocking()
    {
        var holder = Request(_rsb, 1, EX, _fx);
        Request(_rsb, 2, PW, _fx, Errno.InProgress);
        var three = Request(_rsb, 3, CR, _fx, Errno.InProgress);
        Assert.Equal([Effect.Blocking(1, PW)], _fx.Effects);
        _fx.Clear();

        Assert.Equal(Errno.Cancelled, MasterOperations.Cancel(_rsb, three, _fx));

        Assert.Empty(_fx.Effects);
        Assert.Equal(PW, holder.HighBast);
    }

    [Fact]
    public void GrantPending_HigherModeWaiting_BlockingWithHighAndHighBastUpdated()
    {
        var holder = Request(_rsb, 1, PR, _fx, bast: false);
        var two = Request(_rsb, 2, CR, _fx);
        Request(_rsb, 3, EX, _fx, Errno.InProgress);
        var four = Request(_rsb, 4, PW, _fx, Errno.InProgress);
        Assert.Equal([Effect.Blocking(2, EX)], _fx.Effects);
        two.HighBast = NL; // as if the earlier callback had been for a lower mode
        _fx.Clear();

        Assert.Equal(Errno.Cancelled, MasterOperations.Cancel(_rsb, four, _fx));

        // high = EX; 1 has no blocking callback; 2 (CR) is incompatible with EX.
        Assert.Equal([Effect.Blocking(2, EX)], _fx.Effects);
        Assert.Equal(EX, two.HighBast);
        Assert.Equal(NL, holder.HighBast);
    }

    [Fact]
    public void GrantPending_HighPrWithCwWaiting_PrHolderGetsCw()
    {
        // spec §4.10 step 3: cw && high == PR && grmode == PR → BAST mode CW.
        var holder = Request(_rsb, 1, PR, _fx);
        Request(_rsb, 2, CW, _fx, Errno.InProgress);
        Request(_rsb, 3, PR, _fx, Errno.InProgress);
        var four = Request(_rsb, 4, CR, _fx, Errno.InProgress);
        Assert.Equal([Effect.Blocking(1, CW)], _fx.Effects);
        _fx.Clear();

        Assert.Equal(Errno.Cancelled, MasterOperations.Cancel(_rsb, four, _fx));

        Assert.Equal([Effect.Blocking(1, CW)], _fx.Effects);
        Assert.Equal(PR, holder.HighBast);
    }

    [Fact]
    public void GrantPending_PrHolderWithCwWaitingAndHighBastEx_NoBlocking()
    {
        var holder = Request(_rsb, 1, PR, _fx);
        Request(_rsb, 2, CW, _fx, Errno.InProgress);
        Request(_rsb, 3, EX, _fx, Errno.InProgress);
        var four = Request(_rsb, 4, CR, _fx, Errno.InProgress);
        Assert.Equal([Effect.Blocking(1, CW), Effect.Blocking(1, EX)], _fx.Effects);
        _fx.Clear();

        Assert.Equal(Errno.Cancelled, MasterOperations.Cancel(_rsb, four, _fx));

        Assert.Empty(_fx.Effects);
        Assert.Equal(EX, holder.HighBast);
    }

    [Fact]
    public void GrantPending_HighExWithCwWaiting_PrHolderGetsHigh()
    {
        // cw is set but high is EX, not PR: the PR holder gets EX.
        var holder = Request(_rsb, 1, PR, _fx);
        Request(_rsb, 2, CW, _fx, Errno.InProgress);
        Request(_rsb, 3, EX, _fx, Errno.InProgress);
        var four = Request(_rsb, 4, CR, _fx, Errno.InProgress);
        holder.HighBast = NL;
        _fx.Clear();

        Assert.Equal(Errno.Cancelled, MasterOperations.Cancel(_rsb, four, _fx));

        Assert.Equal([Effect.Blocking(1, EX)], _fx.Effects);
        Assert.Equal(EX, holder.HighBast);
    }

    [Fact]
    public void GrantPending_NothingLeftBlocked_NoBlocking()
    {
        var holder = Request(_rsb, 1, EX, _fx);
        Request(_rsb, 2, PR, _fx, Errno.InProgress);
        _fx.Clear();

        MasterOperations.Unlock(_rsb, holder, LockFlags.None, _fx);

        Assert.Equal([Effect.Granted(2)], _fx.Effects);
    }

    [Fact]
    public void GrantPending_NewlyGrantedLocks_BlockedForRemainingWaiter()
    {
        var one = Request(_rsb, 1, EX, _fx);
        var two = Request(_rsb, 2, PR, _fx, Errno.InProgress);
        Request(_rsb, 3, PR, _fx, Errno.InProgress);
        Request(_rsb, 4, EX, _fx, Errno.InProgress);
        _fx.Clear();

        MasterOperations.Unlock(_rsb, one, LockFlags.None, _fx);

        Assert.Equal([Effect.Granted(2), Effect.Granted(3), Effect.Blocking(3, EX), Effect.Blocking(2, EX)], _fx.Effects);
        Assert.Equal(EX, two.HighBast);
    }

    [Fact]
    public void GrantPending_RecoverGrant_QueuedConversionsIgnoreOrder()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, CR);
        var first = Converting(rsb, 2, NL, EX);
        var second = Converting(rsb, 3, NL, PR);
        rsb.RecoverGrant = true;

        MasterOperations.GrantPending(rsb, _fx);

        Assert.Equal(QueueStatus.Convert, first.Status);
        Assert.Equal(QueueStatus.Granted, second.Status);
        Assert.Equal([Effect.Granted(3), Effect.Blocking(3, EX), Effect.Blocking(1, EX)], _fx.Effects);
    }

    [Fact]
    public void GrantPending_WithoutRecoverGrant_QueuedConversionsInOrder()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, CR);
        Converting(rsb, 2, NL, EX);
        var second = Converting(rsb, 3, NL, PR);

        MasterOperations.GrantPending(rsb, _fx);

        Assert.Equal(QueueStatus.Convert, second.Status);
        Assert.Empty(_fx.GrantedIds);
    }
}
