using Dlm.Cli.Bench;

namespace Dlm.Cli.Tests;

/// <summary>The bench's exactly-once, in-order check for one sender.</summary>
public sealed class DeliveryCheckerTests
{
    [Fact]
    public void Record_TrueOnlyForTheArrivalThatCompletesTheSet()
    {
        var checker = new DeliveryChecker(3);

        Assert.False(checker.Record(0));
        Assert.False(checker.Record(1));
        Assert.True(checker.Record(2));
        Assert.False(checker.Record(2)); // a duplicate after it does not complete the sender again

        Assert.Equal((0L, 1L, 0L), (checker.Lost, checker.Duplicated, checker.Reordered));
    }

    [Fact]
    public void Record_GapsOutOfOrderAndOutOfRange_Counted()
    {
        var checker = new DeliveryChecker(4);

        checker.Record(1); // 0 skipped
        checker.Record(0); // late
        checker.Record(7); // never sent

        Assert.Equal((2L, 0L, 3L), (checker.Lost, checker.Duplicated, checker.Reordered));
        Assert.False(checker.Complete);
    }
}
