using System.Diagnostics;
using System.Text.Json;
using Dlm.Membership.Tests;

namespace Dlm.Cli.Tests;

/// <summary>
/// <c>dlm node</c> processes with etcd membership (127.209.0.x): a node paused longer than its lease
/// (SIGSTOP, then SIGCONT) is removed by the others and, once it runs again, fences itself and exits.
/// </summary>
public sealed class NodeFencingTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly string _directory = Directory.CreateTempSubdirectory("dlm-fence-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task PausedLongerThanItsLease_SurvivorsRecover_ResumedNodeFencesItself()
    {
        await using var etcd = await EtcdCluster.StartAsync();
        var config = Path.Combine(_directory, "cluster.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
        {
            cluster = "fence",
            nodes = Enumerable.Range(1, 3).Select(i => new { id = i, addresses = new[] { $"127.209.0.{i}" } }),
            etcd = new { endpoints = etcd.Endpoints, ttl = 3 },
        }));
        var nodes = Enumerable.Range(1, 3).Select(id => Start(config, id)).ToArray();
        try
        {
            foreach (var node in nodes)
            {
                await ExpectLineAsync(node, "joined lockspace 'ls'");
            }

            Signal(nodes[2], "STOP");
            var paused = Stopwatch.StartNew();
            await WaitForMembersAsync(1, [1, 2]); // the lease expired in etcd; the survivors recovered without node 3
            var detected = paused.Elapsed;
            Signal(nodes[2], "CONT");

            await ExpectLineAsync(nodes[2], "fenced");
            await nodes[2].WaitForExitAsync().WaitAsync(Timeout);
            Assert.Equal(1, nodes[2].ExitCode);
            Assert.InRange(detected, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        }
        finally
        {
            foreach (var node in nodes)
            {
                if (!node.HasExited)
                {
                    Signal(node, "CONT");
                    Signal(node, "TERM");
                    if (!node.WaitForExit(15_000))
                    {
                        node.Kill();
                    }
                }

                node.Dispose();
            }
        }
    }

    private Process Start(string config, int id)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { typeof(DlmCli).Assembly.Location, "node", "--config", config, "--id", $"{id}", "--lockspace", "ls",
            "--control", Path.Combine(_directory, $"{id}.sock") })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        process.ErrorDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        return process;
    }

    private static async Task ExpectLineAsync(Process process, string text)
    {
        while (true)
        {
            var line = await process.StandardOutput.ReadLineAsync().WaitAsync(Timeout)
                ?? throw new InvalidOperationException($"dlm node {process.Id} exited before printing '{text}'");
            if (line.Contains(text, StringComparison.Ordinal))
            {
                return;
            }
        }
    }

    private async Task WaitForMembersAsync(int id, int[] members)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < Timeout)
        {
            var (exit, output, _) = await CliRunner.RunAsync(["ls", "--control", Path.Combine(_directory, $"{id}.sock"), "--json"]);
            if (exit == 0)
            {
                var ls = JsonDocument.Parse(output).RootElement.GetProperty("lockspaces")[0];
                if (ls.GetProperty("running").GetBoolean() && ls.GetProperty("members").EnumerateArray().Select(m => m.GetInt32()).SequenceEqual(members))
                {
                    return;
                }
            }

            await Task.Delay(100); // the membership view arrives when etcd expires the lease
        }

        throw new TimeoutException($"node {id} never showed members {string.Join(",", members)}");
    }

    private static void Signal(Process process, string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", $"{process.Id}"]);
        kill.WaitForExit();
    }
}
