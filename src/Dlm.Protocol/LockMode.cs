namespace Dlm.Protocol;

/// <summary>
/// The six lock modes plus IV (spec §4.2). On the wire a mode is a signed 32-bit value
/// (<c>m_grmode</c>, <c>m_rqmode</c>, <c>m_bastmode</c>) or a signed byte (<c>rl_rqmode</c>, <c>rl_grmode</c>).
/// </summary>
public enum LockMode
{
    /// <summary>IV: no mode (-1, 0xFFFFFFFF or 0xFF on the wire).</summary>
    Invalid = -1,
    /// <summary>NL, null.</summary>
    Null = 0,
    /// <summary>CR, concurrent read.</summary>
    ConcurrentRead = 1,
    /// <summary>CW, concurrent write.</summary>
    ConcurrentWrite = 2,
    /// <summary>PR, protected read.</summary>
    ProtectedRead = 3,
    /// <summary>PW, protected write.</summary>
    ProtectedWrite = 4,
    /// <summary>EX, exclusive.</summary>
    Exclusive = 5,
}

/// <summary>Helpers for <see cref="LockMode"/>.</summary>
public static class LockModes
{
    /// <summary>True for IV and NL..EX, the values a wire mode field may hold.</summary>
    public static bool IsWireValid(int value) => value is >= -1 and <= 5;

    /// <summary>The kernel abbreviation: IV, NL, CR, CW, PR, PW, EX.</summary>
    public static string ShortName(LockMode mode) => mode switch
    {
        LockMode.Invalid => "IV",
        LockMode.Null => "NL",
        LockMode.ConcurrentRead => "CR",
        LockMode.ConcurrentWrite => "CW",
        LockMode.ProtectedRead => "PR",
        LockMode.ProtectedWrite => "PW",
        LockMode.Exclusive => "EX",
        _ => "?",
    };
}
