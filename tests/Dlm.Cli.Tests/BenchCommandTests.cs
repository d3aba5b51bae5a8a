using System.Diagnostics;
using System.Text.Json;

namespace Dlm.Cli.Tests;

/// <summary>
/// The end-to-end messaging benchmark as a test: small, on its own loopback addresses
/// (127.201.x.y, the cluster port 21064 and the baseline port 21065), and it must find nothing
/// lost, duplicated or reordered.
/// </summary>
public sealed class BenchCommandTests
{
    [Fact]
    public async Task BenchComms_InProcessWithResets_JsonReportsCleanDelivery()
    {
        var (exit, output, err) = await CliRunner.RunAsync(
            ["bench", "comms", "--nodes", "3", "--messages", "20000", "--reset-every", "20", "--round-trips", "200", "--warmup", "0", "--json", "--base", "127.201.0.1"]);
        Assert.True(exit == 0, err + output);
        using var json = JsonDocument.Parse(output);
        var r = json.RootElement;
        Assert.Equal(120_000, r.GetProperty("messages").GetInt64());
        Assert.Equal(0, r.GetProperty("lost").GetInt64());
        Assert.Equal(0, r.GetProperty("duplicated").GetInt64());
        Assert.Equal(0, r.GetProperty("reordered").GetInt64());
        foreach (var field in new[] { "throughput_msgs_per_s", "baseline_msgs_per_s", "rtt_p50_us", "rtt_p99_us", "baseline_rtt_p50_us", "rtt_ratio", "peak_working_set_bytes" })
        {
            Assert.True(r.GetProperty(field).GetDouble() > 0, field);
        }

        Assert.True(r.GetProperty("resets").GetInt64() >= 0);
        Assert.True(r.GetProperty("retransmitted").GetInt64() >= 0);

        // CPU per message and its user-mode part, ours and the baseline's (the split follows the kernel's tick sampling).
        foreach (var prefix in new[] { "", "baseline_" })
        {
            var total = r.GetProperty(prefix + "cpu_ns_per_message").GetDouble();
            Assert.True(total > 0, prefix + "cpu_ns_per_message");
            Assert.InRange(r.GetProperty(prefix + "cpu_user_ns_per_message").GetDouble(), 0, total);
            Assert.InRange(r.GetProperty(prefix + "cpu_busy").GetDouble(), double.Epsilon, 2); // CPU time is sampled by ticks: a short phase can read a little over 1
        }
    }

    [Fact]
    public async Task BenchComms_Processes_ChildrenReportCleanDelivery()
    {
        var dll = typeof(DlmCli).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { dll, "bench", "comms", "--processes", "--messages", "5000", "--round-trips", "100", "--warmup", "0", "--json", "--base", "127.202.0.1" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        Assert.True(process.ExitCode == 0, await stderr + await stdout);
        using var json = JsonDocument.Parse(await stdout);
        Assert.True(json.RootElement.GetProperty("processes").GetBoolean());
        Assert.Equal(10_000, json.RootElement.GetProperty("messages").GetInt64());
        Assert.Equal(0, json.RootElement.GetProperty("lost").GetInt64());
        foreach (var field in new[] { "rtt_p50_us", "rtt_p99_us", "baseline_rtt_p50_us", "rtt_ratio" })
        {
            Assert.True(json.RootElement.GetProperty(field).GetDouble() > 0, field); // the child answered every "rtt" block
        }
    }

    // A round that measured no round trips (its delivery failed) reports NaN: it must still serialise,
    // and leave the medians of the other rounds alone.
    [Fact]
    public void Report_NoRoundTrips_NaNSerialisedAndLeftOutOfMedians()
    {
        var empty = new Bench.Percentiles(0);
        Assert.True(double.IsNaN(empty.At(0.5)));
        Assert.Equal("NaN", JsonDocument.Parse(JsonSerializer.Serialize(new { p50 = empty.At(0.5) }, ReportJson.Options)).RootElement.GetProperty("p50").GetString());
        Assert.Equal(2.0, Bench.Percentiles.Median([double.NaN, 3.0, 1.0, 2.0]));
        Assert.True(double.IsNaN(Bench.Percentiles.Median([double.NaN])));
    }

    [Theory]
    [InlineData("--nodes", "1")]
    [InlineData("--messages", "0")]
    [InlineData("--base", "::1")]
    [InlineData("--frobnicate", "1")]
    public async Task BenchComms_BadOption_UsageError(string option, string value)
    {
        var (exit, _, err) = await CliRunner.RunAsync(["bench", "comms", option, value]);
        Assert.Equal(2, exit);
        Assert.Contains(option, err, StringComparison.Ordinal);
    }
}

public sealed class LockBenchCommandTests
{
    [Fact]
    public async Task BenchLocks_Small_ReportsScalingAndRemoteLatency()
    {
        var (exit, output, err) = await CliRunner.RunAsync(
            ["bench", "locks", "--nodes", "2", "--resources", "50", "--workers", "2", "--seconds", "0.3", "--json", "--base", "127.205.0.1"]);
        Assert.True(exit == 0, err + output);
        using var json = System.Text.Json.JsonDocument.Parse(output);
        var scaling = json.RootElement.GetProperty("scaling");
        Assert.Equal(2, scaling.GetArrayLength());
        Assert.All(scaling.EnumerateArray(), s => Assert.True(s.GetProperty("ops_per_s").GetDouble() > 0));
        Assert.True(json.RootElement.GetProperty("remote_lock_unlock_p50_us").GetDouble() > 0);
    }
}
