using Dlm.Protocol;
using static Dlm.Core.Tests.Fixture;

namespace Dlm.Core.Tests;

/// <summary>The eleven rules of spec §4.7 one by one, the wrapper, and §4.8 conversion deadlock.</summary>
public sealed class GrantRulesTests
{
    // ---- Rule 1: EXPEDITE ----

    [Fact]
    public void Rules_Expedite_GrantableEvenWithConflictsAndQueues()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, EX);
        Converting(rsb, 2, NL, EX);
        Waiting(rsb, 3, PR);
        var lkb = new Lkb(4, EX, LockFlags.Expedite);

        Assert.True(GrantRules.Rules(rsb, lkb, now: true, recover: false));
        Assert.True(GrantRules.Rules(rsb, lkb, now: false, recover: false));
    }

    [Fact]
    public void Rules_ExpediteNullWithNonEmptyWaitingQueue_Grantable()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, EX);
        Waiting(rsb, 2, PR);

        Assert.True(GrantRules.Rules(rsb, new Lkb(3, NL, LockFlags.Expedite), now: true, recover: false));
        Assert.False(GrantRules.Rules(rsb, new Lkb(4, NL), now: true, recover: false));
    }

    // ---- Rule 2: GRANTED queue conflict ----

    [Fact]
    public void Rules_ConflictWithGrantedQueue_NotGrantable()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, PR);
        var lkb = new Lkb(2, EX, LockFlags.NoOrder);

        Assert.False(GrantRules.Rules(rsb, lkb, now: true, recover: false));
    }

    [Fact]
    public void Rules_ConflictWithGrantedQueueEvenWhenRecovering_NotGrantable()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, PR);
        var conv = Converting(rsb, 2, NL, EX);

        Assert.False(GrantRules.Rules(rsb, conv, now: false, recover: true));
    }

    [Fact]
    public void Rules_ConversionOwnGrantedMode_IsNotAConflict()
    {
        var rsb = NewRsb();
        var lkb = GrantedConverting(rsb, 1, EX, PW);

        Assert.True(GrantRules.Rules(rsb, lkb, now: true, recover: false));
    }

    // ---- Rule 3: CONVERT queue conflict (granted modes of the converting locks) ----

    [Fact]
    public void Rules_ConflictWithConvertingGrantedMode_NotGrantable()
    {
        var rsb = NewRsb();
        Converting(rsb, 1, PR, EX);
        var lkb = GrantedConverting(rsb, 2, NL, CW);

        Assert.False(GrantRules.Rules(rsb, lkb, now: true, recover: false));
    }

    [Fact]
    public void Rules_ConvertingRequestedModeIncompatible_IsNotAConflict()
    {
        // The converting lock wants EX but holds NL: only NL counts (spec §4.3).
        var rsb = NewRsb();
        Converting(rsb, 1, NL, EX);
        var lkb = GrantedConverting(rsb, 2, CR, PR);

        Assert.True(GrantRules.Rules(rsb, lkb, now: true, recover: false));
    }

    // ---- Rule 4: conv && recover ----

    [Fact]
    public void Rules_ConversionNotFirstWithRecover_Grantable()
    {
        var rsb = NewRsb();
        Converting(rsb, 1, NL, PR);
        var second = Converting(rsb, 2, NL, CR);

        Assert.True(GrantRules.Rules(rsb, second, now: false, recover: true));
        Assert.False(GrantRules.Rules(rsb, second, now: false, recover: false));
    }

    [Fact]
    public void Rules_NewRequestWithRecover_RecoverIgnored()
    {
        var rsb = NewRsb();
        Waiting(rsb, 1, PR);
        var second = Waiting(rsb, 2, CR);

        Assert.False(GrantRules.Rules(rsb, second, now: false, recover: true));
    }

    // ---- Rule 5: now && conv && !QUECVT ----

    [Fact]
    public void Rules_InPlaceConversionWithNonEmptyQueues_Grantable()
    {
        var rsb = NewRsb();
        Converting(rsb, 1, CR, EX);
        Waiting(rsb, 2, EX);
        var lkb = GrantedConverting(rsb, 3, NL, PR);

        Assert.True(GrantRules.Rules(rsb, lkb, now: true, recover: false));
    }

    // ---- Rule 6: now && conv && QUECVT ----

    [Fact]
    public void Rules_QueCvtWithEmptyConvertQueue_Grantable()
    {
        var rsb = NewRsb();
        Waiting(rsb, 1, EX);
        var lkb = GrantedConverting(rsb, 2, NL, PR, LockFlags.QueCvt);

        Assert.True(GrantRules.Rules(rsb, lkb, now: true, recover: false));
    }

    [Fact]
    public void Rules_QueCvtWithNonEmptyConvertQueue_NotGrantable()
    {
        var rsb = NewRsb();
        Converting(rsb, 1, NL, EX);
        var lkb = GrantedConverting(rsb, 2, NL, PR, LockFlags.QueCvt | LockFlags.NoOrder);

        // Rule 6 decides before NOORDER (rule 7).
        Assert.False(GrantRules.Rules(rsb, lkb, now: true, recover: false));
    }

    // ---- Rule 7: NOORDER ----

    [Fact]
    public void Rules_NoOrderNewRequestBehindWaiters_Grantable()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, PR);
        Waiting(rsb, 2, EX);
        Converting(rsb, 3, CR, EX);

        Assert.True(GrantRules.Rules(rsb, new Lkb(4, PR, LockFlags.NoOrder), now: true, recover: false));
        Assert.False(GrantRules.Rules(rsb, new Lkb(5, PR), now: true, recover: false));
    }

    [Fact]
    public void Rules_NoOrderQueuedConversionNotFirst_Grantable()
    {
        var rsb = NewRsb();
        Converting(rsb, 1, NL, CR);
        var second = Converting(rsb, 2, NL, PR, LockFlags.NoOrder);

        Assert.True(GrantRules.Rules(rsb, second, now: false, recover: false));
    }

    // ---- Rule 8: !now && conv, first on the CONVERT queue ----

    [Fact]
    public void Rules_QueuedConversionFirst_Grantable()
    {
        var rsb = NewRsb();
        var first = Converting(rsb, 1, NL, PR);
        var second = Converting(rsb, 2, NL, CR);
        Waiting(rsb, 3, EX);

        Assert.True(GrantRules.Rules(rsb, first, now: false, recover: false));
        Assert.False(GrantRules.Rules(rsb, second, now: false, recover: false));
    }

    // ---- Rule 9: now && !conv, CONVERT and WAITING queues empty ----

    [Fact]
    public void Rules_NewRequestEmptyQueues_Grantable()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, PR);

        Assert.True(GrantRules.Rules(rsb, new Lkb(2, CR), now: true, recover: false));
    }

    [Fact]
    public void Rules_NewRequestWithWaiters_NotGrantable()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, PR);
        Waiting(rsb, 2, EX);

        Assert.False(GrantRules.Rules(rsb, new Lkb(3, CR), now: true, recover: false));
    }

    [Fact]
    public void Rules_NewRequestWithConversions_NotGrantable()
    {
        var rsb = NewRsb();
        Converting(rsb, 1, CR, EX);

        Assert.False(GrantRules.Rules(rsb, new Lkb(2, NL), now: true, recover: false));
    }

    // ---- Rule 10: !now && !conv, CONVERT queue empty, first on WAITING ----

    [Fact]
    public void Rules_QueuedRequestFirstOnWaiting_Grantable()
    {
        var rsb = NewRsb();
        var first = Waiting(rsb, 1, CR);
        Waiting(rsb, 2, CR);

        Assert.True(GrantRules.Rules(rsb, first, now: false, recover: false));
    }

    [Fact]
    public void Rules_QueuedRequestFirstButConversionsPending_NotGrantable()
    {
        var rsb = NewRsb();
        Converting(rsb, 1, NL, CR);
        var first = Waiting(rsb, 2, CR);

        Assert.False(GrantRules.Rules(rsb, first, now: false, recover: false));
    }

    // ---- Rule 11: otherwise ----

    [Fact]
    public void Rules_QueuedRequestNotFirst_NotGrantable()
    {
        var rsb = NewRsb();
        Waiting(rsb, 1, CR);
        var second = Waiting(rsb, 2, NL);

        Assert.False(GrantRules.Rules(rsb, second, now: false, recover: false));
    }

    // ---- Wrapper: conversion deadlock ----

    // Two CR holders both converting to EX: the classic conversion deadlock.
    private static (Rsb Rsb, Lkb Queued, Lkb Converting) ClassicDeadlock(LockFlags flags)
    {
        var rsb = NewRsb();
        var queued = Converting(rsb, 1, CR, EX);
        var converting = GrantedConverting(rsb, 2, CR, EX, flags);
        return (rsb, queued, converting);
    }

    [Fact]
    public void CanBeGranted_DeadlockWithConvDeadlk_DemotesToNullAndSetsDemoted()
    {
        var (rsb, _, lkb) = ClassicDeadlock(LockFlags.ConvDeadlk);

        Assert.False(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out var deadlock));
        Assert.False(deadlock);
        Assert.Equal(NL, lkb.GrantedMode);
        Assert.Equal(EX, lkb.RequestedMode);
        Assert.Equal(StatusBlockFlags.Demoted, lkb.SbFlags);
        Assert.Equal(QueueStatus.Granted, lkb.Status); // stays on its queue
    }

    [Fact]
    public void CanBeGranted_DeadlockWithoutConvDeadlk_ReportsDeadlock()
    {
        var (rsb, _, lkb) = ClassicDeadlock(LockFlags.None);

        Assert.False(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out var deadlock));
        Assert.True(deadlock);
        Assert.Equal(CR, lkb.GrantedMode);
        Assert.Equal(StatusBlockFlags.None, lkb.SbFlags);
    }

    [Fact]
    public void CanBeGranted_DeadlockedConversionWithNoQueue_NoDeadlockCheck()
    {
        var (rsb, _, lkb) = ClassicDeadlock(LockFlags.NoQueue);

        Assert.False(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out var deadlock));
        Assert.False(deadlock);
        Assert.Equal(CR, lkb.GrantedMode);
        Assert.Equal(StatusBlockFlags.None, lkb.SbFlags);
    }

    [Fact]
    public void CanBeGranted_DeadlockWithAltPr_NoAlternateAttempt()
    {
        // PR would be grantable against CR holders, but a deadlock decides first.
        var (rsb, _, lkb) = ClassicDeadlock(LockFlags.AltPr);

        Assert.False(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out var deadlock));
        Assert.True(deadlock);
        Assert.Equal(EX, lkb.RequestedMode);
        Assert.Equal(StatusBlockFlags.None, lkb.SbFlags);
    }

    [Fact]
    public void CanBeGranted_NewRequestNotGrantable_NeverDeadlock()
    {
        var rsb = NewRsb();
        Converting(rsb, 1, CR, EX);
        var lkb = new Lkb(2, EX, LockFlags.ConvDeadlk);

        Assert.False(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out var deadlock));
        Assert.False(deadlock);
        Assert.Equal(IV, lkb.GrantedMode);
    }

    // ---- Wrapper: ALTPR / ALTCW ----

    [Fact]
    public void CanBeGranted_AltPrAlternateGrantable_GrantsPrWithAltMode()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, PR);
        var lkb = new Lkb(2, EX, LockFlags.AltPr);

        Assert.True(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out var deadlock));
        Assert.False(deadlock);
        Assert.Equal(PR, lkb.RequestedMode);
        Assert.Equal(StatusBlockFlags.AltMode, lkb.SbFlags);
    }

    [Fact]
    public void CanBeGranted_AltCwAlternateGrantable_GrantsCwWithAltMode()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, CW);
        var lkb = new Lkb(2, PR, LockFlags.AltCw);

        Assert.True(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out _));
        Assert.Equal(CW, lkb.RequestedMode);
        Assert.Equal(StatusBlockFlags.AltMode, lkb.SbFlags);
    }

    [Fact]
    public void CanBeGranted_AltPrWhenRequestingPr_TriesAltCw()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, CW);
        var lkb = new Lkb(2, PR, LockFlags.AltPr | LockFlags.AltCw);

        Assert.True(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out _));
        Assert.Equal(CW, lkb.RequestedMode);
        Assert.Equal(StatusBlockFlags.AltMode, lkb.SbFlags);
    }

    [Fact]
    public void CanBeGranted_AltPrWithAltCw_PrefersPr()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, CR);
        Granted(rsb, 2, PR);
        var lkb = new Lkb(3, EX, LockFlags.AltPr | LockFlags.AltCw);

        Assert.True(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out _));
        Assert.Equal(PR, lkb.RequestedMode);
    }

    [Theory]
    [InlineData(LockFlags.AltPr)]
    [InlineData(LockFlags.AltCw)]
    public void CanBeGranted_AlternateNotGrantableEither_RestoresRequestedMode(LockFlags alt)
    {
        var rsb = NewRsb();
        Granted(rsb, 1, EX);
        var lkb = new Lkb(2, PW, alt);

        Assert.False(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out var deadlock));
        Assert.False(deadlock);
        Assert.Equal(PW, lkb.RequestedMode);
        Assert.Equal(StatusBlockFlags.None, lkb.SbFlags);
    }

    [Fact]
    public void CanBeGranted_AlternateBlockedOnlyByQueueOrder_RestoresRequestedMode()
    {
        // PR is compatible with the holder, but rule 9 fails (waiting queue not empty).
        var rsb = NewRsb();
        Granted(rsb, 1, PR);
        Waiting(rsb, 2, EX);
        var lkb = new Lkb(3, EX, LockFlags.AltPr);

        Assert.False(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out _));
        Assert.Equal(EX, lkb.RequestedMode);
    }

    [Fact]
    public void CanBeGranted_GrantableInRequestedMode_NoAltMode()
    {
        var rsb = NewRsb();
        var lkb = new Lkb(1, EX, LockFlags.AltPr);

        Assert.True(GrantRules.CanBeGranted(rsb, lkb, now: true, recover: false, out _));
        Assert.Equal(EX, lkb.RequestedMode);
        Assert.Equal(StatusBlockFlags.None, lkb.SbFlags);
    }

    // ---- §4.8 conversion deadlock detection ----

    [Fact]
    public void HasConversionDeadlock_SpecExample_NullToExQueuedAndPrToEx_Deadlock()
    {
        // spec §4.8: convert queue [NL→EX], new conversion PR→EX: PR blocks EX of the first one.
        var rsb = NewRsb();
        Converting(rsb, 1, NL, EX);
        var lkb = GrantedConverting(rsb, 2, PR, EX);

        Assert.True(GrantRules.HasConversionDeadlock(rsb, lkb));
    }

    [Fact]
    public void HasConversionDeadlock_SpecExampleReversed_NoDeadlock()
    {
        // convert queue [PR→EX], new conversion NL→EX: NL blocks nothing.
        var rsb = NewRsb();
        Converting(rsb, 1, PR, EX);
        var lkb = GrantedConverting(rsb, 2, NL, EX);

        Assert.False(GrantRules.HasConversionDeadlock(rsb, lkb));
    }

    [Fact]
    public void HasConversionDeadlock_NotQueuedChecksEveryEntry_Deadlock()
    {
        var rsb = NewRsb();
        Converting(rsb, 1, NL, CR);
        Converting(rsb, 2, NL, PW);
        var lkb = GrantedConverting(rsb, 3, PR, EX);

        Assert.True(GrantRules.HasConversionDeadlock(rsb, lkb));
    }

    [Fact]
    public void HasConversionDeadlock_EmptyConvertQueue_NoDeadlock()
    {
        var rsb = NewRsb();
        Granted(rsb, 1, EX);
        var lkb = GrantedConverting(rsb, 2, PR, EX);

        Assert.False(GrantRules.HasConversionDeadlock(rsb, lkb));
    }

    [Fact]
    public void HasConversionDeadlock_AheadRequestCompatibleWithOurGrant_NoDeadlock()
    {
        var rsb = NewRsb();
        Converting(rsb, 1, NL, PR);
        var lkb = GrantedConverting(rsb, 2, PR, EX);

        Assert.False(GrantRules.HasConversionDeadlock(rsb, lkb));
    }

    [Fact]
    public void HasConversionDeadlock_BehindOneWayBlock_NoDeadlock()
    {
        // We (PR→EX) are first; behind us NL→EX: our PR blocks its EX, but its NL does not block our EX.
        var rsb = NewRsb();
        var lkb = Converting(rsb, 1, PR, EX);
        Converting(rsb, 2, NL, EX);

        Assert.False(GrantRules.HasConversionDeadlock(rsb, lkb));
    }

    [Fact]
    public void HasConversionDeadlock_BehindMutualBlock_Deadlock()
    {
        // We (CR→EX) are first; behind us PR→EX: our CR blocks its EX and its PR blocks our EX.
        var rsb = NewRsb();
        var lkb = Converting(rsb, 1, CR, EX);
        Converting(rsb, 2, PR, EX);

        Assert.True(GrantRules.HasConversionDeadlock(rsb, lkb));
    }

    [Fact]
    public void HasConversionDeadlock_AheadOneWayBlock_Deadlock()
    {
        // Ahead of us NL→EX, we hold PR (queued): one-way block of the one ahead suffices.
        var rsb = NewRsb();
        Converting(rsb, 1, NL, EX);
        var lkb = Converting(rsb, 2, PR, EX);

        Assert.True(GrantRules.HasConversionDeadlock(rsb, lkb));
    }

    [Fact]
    public void HasConversionDeadlock_BehindUsesGrantedModes_NoDeadlockWhenBehindHoldsNull()
    {
        // Both directions must block: our CR blocks its EX, but its NL does not block our PW.
        var rsb = NewRsb();
        var lkb = Converting(rsb, 1, CR, PW);
        Converting(rsb, 2, NL, EX);

        Assert.False(GrantRules.HasConversionDeadlock(rsb, lkb));
    }
}
