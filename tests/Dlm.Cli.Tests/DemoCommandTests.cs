using System.Text.Json;

namespace Dlm.Cli.Tests;

/// <summary>The main job as a test: a short demo on its own loopback addresses (127.203.0.1..3).</summary>
public sealed class DemoCommandTests
{
    [Fact]
    public async Task Demo_ThreeNodesOneSecond_CountersMatchAndNoOverlap()
    {
        var (exit, output, err) = await CliRunner.RunAsync(["demo", "--seconds", "1", "--json", "--base", "127.203.0.1"]);
        Assert.True(exit == 0, err + output);
        using var json = JsonDocument.Parse(output);
        var r = json.RootElement;
        Assert.True(r.GetProperty("passed").GetBoolean());
        Assert.True(r.GetProperty("increments").GetInt64() > 0);
        Assert.Equal(r.GetProperty("increments").GetInt64(), r.GetProperty("counter_sum").GetInt64());
        Assert.Equal(0, r.GetProperty("violations").GetArrayLength());
        Assert.True(r.GetProperty("remote_locks").GetInt64() > 0, "no lock crossed the network");
        Assert.True(r.GetProperty("blocking_callbacks_honoured").GetInt64() > 0, "no cached lock was given up on a blocking callback");
    }

    [Theory]
    [InlineData("--nodes", "0")]
    [InlineData("--seconds", "-1")]
    [InlineData("--bogus", "1")]
    public async Task Demo_BadOption_UsageError(string option, string value)
    {
        var (exit, _, err) = await CliRunner.RunAsync(["demo", option, value]);
        Assert.Equal(2, exit);
        Assert.Contains(option, err, StringComparison.Ordinal);
    }
}
