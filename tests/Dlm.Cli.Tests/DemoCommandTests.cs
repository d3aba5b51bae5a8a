using System.Text.Json;

namespace Dlm.Cli.Tests;

/// <summary>The main job as a test: a short demo on its own loopback addresses (127.203.0.1..3).</summary>
public sealed class DemoCommandTests
{
    [Fact]
    public async Task Demo_ThreeNodesOneSecond_CountersMatchAndNoOverlap()
    {
        var (exit, output, err) = await CliRunner.RunAsync(["demo", "--seconds", "2", "--json", "--base", "127.203.0.1"]);
        Assert.True(exit == 0, err + output);
        using var json = JsonDocument.Parse(output);
        var r = json.RootElement;
        Assert.True(r.GetProperty("passed").GetBoolean(), output);
        Assert.True(r.GetProperty("increments").GetInt64() > 0, output);
        Assert.Equal(r.GetProperty("increments").GetInt64(), r.GetProperty("counter_sum").GetInt64());
        Assert.Equal(0, r.GetProperty("violations").GetArrayLength());
        Assert.True(r.GetProperty("remote_locks").GetInt64() > 0, "no lock crossed the network: " + output);
        Assert.True(r.GetProperty("blocking_callbacks_honoured").GetInt64() > 0, "no cached lock was given up on a blocking callback: " + output);
    }

    [Fact]
    public async Task Demo_Processes_MergedIntervalsShowNoOverlap()
    {
        using var json = await RunDemoProcessAsync(["--processes", "--seconds", "1", "--json", "--base", "127.204.0.1"]);
        Assert.True(json.RootElement.GetProperty("processes").GetBoolean());
        Assert.Equal(json.RootElement.GetProperty("increments").GetInt64(), json.RootElement.GetProperty("counter_sum").GetInt64());
        Assert.True(json.RootElement.GetProperty("checker_events").GetInt64() > 0);
    }

    // `dlm demo ARGS` as its own process (it starts child processes itself); its JSON report.
    private static async Task<JsonDocument> RunDemoProcessAsync(string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { typeof(DlmCli).Assembly.Location, "demo" }.Concat(args))
        {
            start.ArgumentList.Add(arg);
        }

        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        Assert.True(process.ExitCode == 0, await stderr + await stdout);
        return JsonDocument.Parse(await stdout);
    }

    // SIGKILL the coordinator that masters the plain resources while others wait on its locks; the
    // survivors recover and grant; the killed node's journaled locks never overlap anyone's; several seeds.
    [Theory]
    [InlineData(1, false, "127.207.0.1")]
    [InlineData(2, false, "127.207.1.1")]
    [InlineData(3, true, "127.207.2.1")]
    public async Task Demo_KillOne_SurvivorsRecoverAndNothingOverlaps(int seed, bool restart, string address)
    {
        string[] args = ["--processes", "--kill-one", "--seconds", "2", "--json", "--seed", $"{seed}", "--base", address];
        using var json = await RunDemoProcessAsync(restart ? [.. args, "--restart"] : args);
        var r = json.RootElement;
        Assert.Equal(1, r.GetProperty("killed_node").GetInt32());
        Assert.Empty(r.GetProperty("violations").EnumerateArray());
        Assert.True(r.GetProperty("kill_recovery_ms").GetDouble() > 0);
        Assert.Equal(restart, r.GetProperty("restarted").GetBoolean());
        Assert.InRange(r.GetProperty("increments_lost_in_flight").GetInt64(), 0, 2);
    }

    // The same with etcd membership: nobody removes the killed node; its lease expires and the survivors recover.
    [Fact]
    public async Task Demo_KillOneWithEtcd_LeaseExpiryDrivesRecovery()
    {
        await using var etcd = await Dlm.Membership.Tests.EtcdCluster.StartAsync();
        using var json = await RunDemoProcessAsync(["--processes", "--kill-one", "--restart", "--seconds", "4", "--json", "--etcd", etcd.Endpoints[0], "--base", "127.207.3.1"]);
        var r = json.RootElement;
        Assert.Equal("etcd", r.GetProperty("membership").GetString());
        Assert.Empty(r.GetProperty("violations").EnumerateArray());
        Assert.InRange(r.GetProperty("kill_detection_ms").GetDouble(), 500, 10_000); // about the 2 s lease TTL
        Assert.True(r.GetProperty("kill_recovery_ms").GetDouble() > 0);
    }

    [Theory]
    [InlineData("--kill-one")]
    [InlineData("--restart")]
    public async Task Demo_KillWithoutProcesses_UsageError(string option)
    {
        var (exit, _, err) = await CliRunner.RunAsync(["demo", option]);
        Assert.Equal(2, exit);
        Assert.Contains(option == "--kill-one" ? "--kill-one needs --processes" : "--restart brings back", err, StringComparison.Ordinal);
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
