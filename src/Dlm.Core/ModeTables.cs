using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>What happens to the lock value block when a lock is granted (spec §4.5).</summary>
public enum LvbTransfer
{
    /// <summary>Nothing moves.</summary>
    None,
    /// <summary>The resource LVB is returned to the caller.</summary>
    Return,
    /// <summary>The caller's LVB is written to the resource.</summary>
    Write,
}

/// <summary>The mode tables of spec §4.3–§4.5. Pure lookups.</summary>
public static class ModeTables
{
    // spec §4.3, rows and columns NL CR CW PR PW EX.
    private static readonly bool[,] Compatibility =
    {
        { true, true, true, true, true, true },
        { true, true, true, true, true, false },
        { true, true, true, false, false, false },
        { true, true, false, true, false, false },
        { true, true, false, false, false, false },
        { true, false, false, false, false, false },
    };

    // spec §4.4, row = granted, column = requested.
    private static readonly bool[,] QueCvt =
    {
        { false, true, true, true, true, true },
        { false, false, true, true, true, true },
        { false, false, false, true, true, true },
        { false, false, true, false, true, true },
        { false, false, false, false, false, true },
        { false, false, false, false, false, false },
    };

    // spec §4.5, rows IV NL CR CW PR PW EX, columns NL..EX. R = return, W = write, - = nothing.
    private static readonly LvbTransfer[,] Lvb = Parse(
        "RRRRRR", // IV
        "RRRRRR", // NL
        "-RRRRR", // CR
        "--RRRR", // CW
        "---RRR", // PR
        "WWWWWR", // PW
        "WWWWWW"); // EX

    /// <summary>True if a lock granted in <paramref name="granted"/> allows <paramref name="requested"/>; IV is compatible with everything.</summary>
    public static bool Compatible(LockMode granted, LockMode requested) =>
        granted == LockMode.Invalid || requested == LockMode.Invalid || Compatibility[(int)granted, (int)requested];

    /// <summary>True if a QUECVT conversion from <paramref name="granted"/> to <paramref name="requested"/> is allowed (spec §4.4).</summary>
    public static bool QueCvtAllowed(LockMode granted, LockMode requested) =>
        IsMode(granted) && IsMode(requested) && QueCvt[(int)granted, (int)requested];

    /// <summary>The LVB direction when a lock granted in <paramref name="granted"/> (IV for a new request) gets <paramref name="requested"/> (spec §4.5).</summary>
    public static LvbTransfer LvbOnGrant(LockMode granted, LockMode requested) =>
        IsMode(requested) && (granted == LockMode.Invalid || IsMode(granted)) ? Lvb[(int)granted + 1, (int)requested] : LvbTransfer.None;

    /// <summary>
    /// A down-conversion (requested below granted, except the PR↔CW "middle" pair) is always
    /// grantable and gets no reply from a remote master (spec §4.9).
    /// </summary>
    public static bool IsDownConversion(LockMode granted, LockMode requested) =>
        requested < granted && !IsMiddle(granted, requested);

    /// <summary>True for the PR↔CW pair, neither above the other.</summary>
    public static bool IsMiddle(LockMode a, LockMode b) =>
        (a == LockMode.ProtectedRead && b == LockMode.ConcurrentWrite) || (a == LockMode.ConcurrentWrite && b == LockMode.ProtectedRead);

    /// <summary>True for NL..EX.</summary>
    public static bool IsMode(LockMode mode) => mode is >= LockMode.Null and <= LockMode.Exclusive;

    private static LvbTransfer[,] Parse(params string[] rows)
    {
        var table = new LvbTransfer[rows.Length, 6];
        for (var r = 0; r < rows.Length; r++)
        {
            for (var c = 0; c < 6; c++)
            {
                table[r, c] = rows[r][c] switch { 'R' => LvbTransfer.Return, 'W' => LvbTransfer.Write, _ => LvbTransfer.None };
            }
        }

        return table;
    }
}
