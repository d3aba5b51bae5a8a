using Dlm.Protocol;
using static Dlm.Core.Tests.Fixture;

namespace Dlm.Core.Tests;

/// <summary>The tables of spec §4.3–§4.5, every cell, transcribed from the spec text.</summary>
public sealed class ModeTablesTests
{
    // spec §4.3, rows/columns NL CR CW PR PW EX; 1 = compatible.
    private static readonly string[] CompatibilityRows =
    [
        "111111",
        "111110",
        "111000",
        "110100",
        "110000",
        "100000",
    ];

    // spec §4.4, row = granted, column = requested; 1 = allowed with QUECVT.
    private static readonly string[] QueCvtRows =
    [
        "011111",
        "001111",
        "000111",
        "001011",
        "000001",
        "000000",
    ];

    // spec §4.5, rows IV NL CR CW PR PW EX, columns NL..EX.
    private static readonly string[] LvbRows =
    [
        "RRRRRR",
        "RRRRRR",
        "-RRRRR",
        "--RRRR",
        "---RRR",
        "WWWWWR",
        "WWWWWW",
    ];

    public static TheoryData<LockMode, LockMode> AllPairs()
    {
        var data = new TheoryData<LockMode, LockMode>();
        foreach (var a in Modes)
        {
            foreach (var b in Modes)
            {
                data.Add(a, b);
            }
        }

        return data;
    }

    public static TheoryData<LockMode, LockMode> AllLvbCells()
    {
        var data = new TheoryData<LockMode, LockMode>();
        foreach (var a in (LockMode[])[IV, .. Modes])
        {
            foreach (var b in Modes)
            {
                data.Add(a, b);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void Compatible_EveryPair_MatchesSpecMatrix(LockMode granted, LockMode requested)
    {
        var expected = CompatibilityRows[(int)granted][(int)requested] == '1';

        Assert.Equal(expected, ModeTables.Compatible(granted, requested));
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void Compatible_EveryPair_IsSymmetric(LockMode a, LockMode b) =>
        Assert.Equal(ModeTables.Compatible(a, b), ModeTables.Compatible(b, a));

    [Fact]
    public void Compatible_Exclusive_OnlyWithNull()
    {
        Assert.Equal([NL], Modes.Where(m => ModeTables.Compatible(EX, m)));
        Assert.Equal(Modes, Modes.Where(m => ModeTables.Compatible(NL, m)));
    }

    [Theory]
    [InlineData(LockMode.Invalid)]
    [InlineData(LockMode.Null)]
    [InlineData(LockMode.ConcurrentRead)]
    [InlineData(LockMode.ConcurrentWrite)]
    [InlineData(LockMode.ProtectedRead)]
    [InlineData(LockMode.ProtectedWrite)]
    [InlineData(LockMode.Exclusive)]
    public void Compatible_InvalidWithAnyMode_IsCompatible(LockMode mode)
    {
        Assert.True(ModeTables.Compatible(IV, mode));
        Assert.True(ModeTables.Compatible(mode, IV));
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void QueCvtAllowed_EveryPair_MatchesSpecTable(LockMode granted, LockMode requested)
    {
        var expected = QueCvtRows[(int)granted][(int)requested] == '1';

        Assert.Equal(expected, ModeTables.QueCvtAllowed(granted, requested));
    }

    [Fact]
    public void QueCvtAllowed_InvalidEitherSide_NotAllowed()
    {
        foreach (var mode in Modes)
        {
            Assert.False(ModeTables.QueCvtAllowed(IV, mode));
            Assert.False(ModeTables.QueCvtAllowed(mode, IV));
        }
    }

    [Theory]
    [MemberData(nameof(AllLvbCells))]
    public void LvbOnGrant_EveryCell_MatchesSpecTable(LockMode granted, LockMode requested)
    {
        var expected = LvbRows[(int)granted + 1][(int)requested] switch
        {
            'R' => LvbTransfer.Return,
            'W' => LvbTransfer.Write,
            _ => LvbTransfer.None,
        };

        Assert.Equal(expected, ModeTables.LvbOnGrant(granted, requested));
    }

    [Fact]
    public void LvbOnGrant_NewRequest_AlwaysReturns()
    {
        foreach (var mode in Modes)
        {
            Assert.Equal(LvbTransfer.Return, ModeTables.LvbOnGrant(IV, mode));
        }
    }

    [Theory]
    [MemberData(nameof(AllPairs))]
    public void IsDownConversion_EveryPair_LowerExceptMiddlePair(LockMode granted, LockMode requested)
    {
        // Order NL < CR < CW < PR < PW < EX, but PR and CW are not above one another.
        var middle = (granted, requested) is (PR, CW) or (CW, PR);
        var expected = (int)requested < (int)granted && !middle;

        Assert.Equal(expected, ModeTables.IsDownConversion(granted, requested));
    }

    [Fact]
    public void IsDownConversion_MiddlePair_NeitherDirection()
    {
        Assert.False(ModeTables.IsDownConversion(PR, CW));
        Assert.False(ModeTables.IsDownConversion(CW, PR));
        Assert.True(ModeTables.IsMiddle(PR, CW));
        Assert.True(ModeTables.IsMiddle(CW, PR));
    }

    [Fact]
    public void IsDownConversion_ExplicitExamples_Expected()
    {
        Assert.True(ModeTables.IsDownConversion(EX, NL));
        Assert.True(ModeTables.IsDownConversion(PR, CR));
        Assert.True(ModeTables.IsDownConversion(PW, CW));
        Assert.True(ModeTables.IsDownConversion(CW, NL));
        Assert.False(ModeTables.IsDownConversion(NL, EX));
        Assert.False(ModeTables.IsDownConversion(PR, PR));
    }

    [Fact]
    public void IsMode_OnlyNullToExclusive()
    {
        Assert.False(ModeTables.IsMode(IV));
        Assert.All(Modes, m => Assert.True(ModeTables.IsMode(m)));
        Assert.False(ModeTables.IsMode((LockMode)6));
    }
}
