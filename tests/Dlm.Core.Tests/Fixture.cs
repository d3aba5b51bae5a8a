using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>Short mode names and resource-building helpers for the tests.</summary>
internal static class Fixture
{
    public const LockMode IV = LockMode.Invalid;
    public const LockMode NL = LockMode.Null;
    public const LockMode CR = LockMode.ConcurrentRead;
    public const LockMode CW = LockMode.ConcurrentWrite;
    public const LockMode PR = LockMode.ProtectedRead;
    public const LockMode PW = LockMode.ProtectedWrite;
    public const LockMode EX = LockMode.Exclusive;

    public static readonly LockMode[] Modes = [NL, CR, CW, PR, PW, EX];

    public static Rsb NewRsb(int lvbLength = 32) => new("resource"u8.ToArray(), lvbLength);

    /// <summary>Puts a lock directly on the granted queue (tail), bypassing the grant logic.</summary>
    public static Lkb Granted(Rsb rsb, uint id, LockMode granted, LockFlags flags = LockFlags.None, bool bast = true)
    {
        var lkb = new Lkb(id, IV, flags, bast) { GrantedMode = granted, Status = QueueStatus.Granted };
        rsb.Granted.Add(lkb);
        return lkb;
    }

    /// <summary>Puts a conversion directly on the convert queue (tail).</summary>
    public static Lkb Converting(Rsb rsb, uint id, LockMode granted, LockMode requested, LockFlags flags = LockFlags.None, bool bast = true)
    {
        var lkb = new Lkb(id, requested, flags, bast) { GrantedMode = granted, Status = QueueStatus.Convert };
        rsb.Converting.Add(lkb);
        return lkb;
    }

    /// <summary>Puts a new request directly on the waiting queue (tail).</summary>
    public static Lkb Waiting(Rsb rsb, uint id, LockMode requested, LockFlags flags = LockFlags.None, bool bast = true)
    {
        var lkb = new Lkb(id, requested, flags, bast) { Status = QueueStatus.Waiting };
        rsb.Waiting.Add(lkb);
        return lkb;
    }

    /// <summary>A granted lock on the granted queue that is being converted (as during Convert).</summary>
    public static Lkb GrantedConverting(Rsb rsb, uint id, LockMode granted, LockMode requested, LockFlags flags = LockFlags.None)
    {
        var lkb = Granted(rsb, id, granted, flags);
        lkb.RequestedMode = requested;
        return lkb;
    }

    /// <summary>Requests through the master operations and asserts the result.</summary>
    public static Lkb Request(Rsb rsb, uint id, LockMode mode, IGrantEffects effects, int expected = Errno.Ok, LockFlags flags = LockFlags.None, bool bast = true)
    {
        var lkb = new Lkb(id, mode, flags, bast);
        Assert.Equal(expected, MasterOperations.Request(rsb, lkb, effects));
        return lkb;
    }

    public static uint[] Ids(IEnumerable<Lkb> queue) => [.. queue.Select(l => l.Id)];
}
