using Dlm.Protocol;

namespace Dlm.Core.Tests;

public sealed class LockArgumentsTests
{
    [Theory]
    [InlineData(LockMode.Exclusive, LockFlags.None, 3)]
    [InlineData(LockMode.Null, LockFlags.Expedite, 3)]
    [InlineData(LockMode.ProtectedRead, LockFlags.NoQueue | LockFlags.NoQueueBast, 64)]
    [InlineData(LockMode.Exclusive, LockFlags.ValBlk | LockFlags.AltPr | LockFlags.HeadQue, 1)]
    public void ValidateLock_ValidNewLock_None(LockMode mode, LockFlags flags, int nameLength) =>
        Assert.Equal(LockArgumentError.None, LockArguments.ValidateLock(mode, flags, nameLength));

    [Theory]
    [InlineData(LockMode.Invalid, LockFlags.None, 3, LockArgumentError.InvalidMode)]
    [InlineData((LockMode)6, LockFlags.None, 3, LockArgumentError.InvalidMode)]
    [InlineData(LockMode.Exclusive, LockFlags.None, 0, LockArgumentError.InvalidName)]
    [InlineData(LockMode.Exclusive, LockFlags.None, 65, LockArgumentError.InvalidName)]
    [InlineData(LockMode.Exclusive, LockFlags.Cancel, 3, LockArgumentError.UnlockFlagOnLock)]
    [InlineData(LockMode.Exclusive, LockFlags.ForceUnlock, 3, LockArgumentError.UnlockFlagOnLock)]
    [InlineData(LockMode.Exclusive, LockFlags.QueCvt, 3, LockArgumentError.ConversionFlagWithoutConvert)]
    [InlineData(LockMode.Exclusive, LockFlags.ConvDeadlk, 3, LockArgumentError.ConversionFlagWithoutConvert)]
    [InlineData(LockMode.ProtectedRead, LockFlags.Expedite, 3, LockArgumentError.InvalidExpedite)]
    [InlineData(LockMode.Null, LockFlags.Expedite | LockFlags.NoQueue, 3, LockArgumentError.InvalidExpedite)]
    [InlineData(LockMode.Exclusive, LockFlags.NoQueueBast, 3, LockArgumentError.NoQueueBastWithoutNoQueue)]
    [InlineData(LockMode.Exclusive, LockFlags.NoDlckBlk, 3, LockArgumentError.NotSupported)]
    [InlineData(LockMode.Exclusive, LockFlags.Timeout, 3, LockArgumentError.NotSupported)]
    public void ValidateLock_InvalidNewLock_Error(LockMode mode, LockFlags flags, int nameLength, LockArgumentError expected)
    {
        var error = LockArguments.ValidateLock(mode, flags, nameLength);
        Assert.Equal(expected, error);
        Assert.False(string.IsNullOrWhiteSpace(LockArguments.Describe(error)));
    }

    [Theory]
    [InlineData(LockMode.Null, LockMode.Exclusive, LockFlags.QueCvt, LockArgumentError.None)]
    [InlineData(LockMode.ProtectedRead, LockMode.ConcurrentWrite, LockFlags.QueCvt, LockArgumentError.None)]
    [InlineData(LockMode.Exclusive, LockMode.Null, LockFlags.QueCvt, LockArgumentError.QueCvtNotAllowed)]
    [InlineData(LockMode.ConcurrentWrite, LockMode.ConcurrentRead, LockFlags.QueCvt, LockArgumentError.QueCvtNotAllowed)]
    [InlineData(LockMode.ProtectedRead, LockMode.Exclusive, LockFlags.ConvDeadlk, LockArgumentError.None)]
    [InlineData(LockMode.ProtectedRead, LockMode.Exclusive, LockFlags.ConvDeadlk | LockFlags.NoQueue, LockArgumentError.ConvDeadlkWithNoQueue)]
    [InlineData(LockMode.Null, LockMode.Null, LockFlags.Expedite, LockArgumentError.InvalidExpedite)]
    public void ValidateLock_Conversion_FollowsQueCvtTableAndFlagRules(LockMode granted, LockMode requested, LockFlags flags, LockArgumentError expected) =>
        Assert.Equal(expected, LockArguments.ValidateLock(requested, flags | LockFlags.Convert, nameLength: 0, granted));

    [Theory]
    [InlineData(LockFlags.None, LockArgumentError.None)]
    [InlineData(LockFlags.Cancel, LockArgumentError.None)]
    [InlineData(LockFlags.ForceUnlock | LockFlags.ValBlk, LockArgumentError.None)]
    [InlineData(LockFlags.IvValBlk, LockArgumentError.None)]
    [InlineData(LockFlags.Cancel | LockFlags.ForceUnlock, LockArgumentError.CancelWithForceUnlock)]
    [InlineData(LockFlags.NoQueue, LockArgumentError.InvalidUnlockFlag)]
    [InlineData(LockFlags.Convert, LockArgumentError.InvalidUnlockFlag)]
    public void ValidateUnlock_Flags_OnlyUnlockFlagsAccepted(LockFlags flags, LockArgumentError expected) =>
        Assert.Equal(expected, LockArguments.ValidateUnlock(flags));
}
