namespace Dlm.Cli.Bench;

/// <summary>
/// Checks exactly-once, in-order delivery of counted messages from one sender to one receiver:
/// every counter 0..N-1 must arrive once, each one after the one before it.
/// </summary>
internal sealed class DeliveryChecker(long expected)
{
    private readonly ulong[] _seen = new ulong[(expected + 63) / 64];
    private long _next;

    public long Expected { get; } = expected;
    public long Distinct { get; private set; }
    public long Duplicated { get; private set; }
    public long Reordered { get; private set; }
    public long Lost => Expected - Distinct;
    public bool Complete => Distinct == Expected;

    /// <summary>
    /// Records one arrival; called by one receive loop at a time for a given sender. True only for the
    /// arrival that completes the set: a duplicate after it must not count the sender complete again.
    /// </summary>
    public bool Record(long counter)
    {
        if (counter < 0 || counter >= Expected)
        {
            Reordered++;
            return false;
        }

        ref var word = ref _seen[counter >> 6];
        var bit = 1UL << (int)(counter & 63);
        if ((word & bit) != 0)
        {
            Duplicated++;
            return false;
        }

        word |= bit;
        Distinct++;
        if (counter != _next)
        {
            Reordered++;
        }

        _next = counter + 1;
        return Complete;
    }
}
