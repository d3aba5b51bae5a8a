using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Dlm.Membership.Tests;

/// <summary>
/// A private etcd (one member or three) on loopback with free ports, for one test; killed and deleted on
/// dispose. etcd is a real dependency: when it is missing the test fails with how to install it.
/// </summary>
internal sealed class EtcdCluster : IAsyncDisposable
{
    private readonly List<(string Name, int ClientPort, int PeerPort, string Directory)> _members = [];
    private readonly Process?[] _processes;

    private EtcdCluster(int size)
    {
        for (var i = 0; i < size; i++)
        {
            _members.Add(($"n{i}", FreePort(), FreePort(), Directory.CreateTempSubdirectory("dlm-etcd-").FullName));
        }

        _processes = new Process?[size];
    }

    public IReadOnlyList<string> Endpoints => [.. _members.Select(m => $"http://127.0.0.1:{m.ClientPort}")];

    public static async Task<EtcdCluster> StartAsync(int size = 1)
    {
        if (!File.Exists("/usr/bin/etcd") && Which("etcd") is null)
        {
            throw new InvalidOperationException("etcd is not installed: apt-get install -y etcd-server (./test.sh does this)");
        }

        var cluster = new EtcdCluster(size);
        for (var i = 0; i < size; i++)
        {
            cluster.Start(i);
        }

        await cluster.WaitHealthyAsync();
        return cluster;
    }

    /// <summary>SIGKILL member <paramref name="index"/>.</summary>
    public void Kill(int index)
    {
        _processes[index]?.Kill();
        _processes[index]?.WaitForExit();
    }

    /// <summary>Writes a key outside every lockspace and compacts all history before it: a watch that resumes from
    /// an earlier revision is told its history is gone. Returns the revision compacted at.</summary>
    public long CompactAll()
    {
        Etcdctl("put /dlm-test/compaction x"); // two writes: a watch resuming right after the last change starts before the second
        var put = Etcdctl("put /dlm-test/compaction y -w json");
        var revision = System.Text.Json.JsonDocument.Parse(put).RootElement.GetProperty("header").GetProperty("revision").GetInt64();
        var compacted = Etcdctl($"compact {revision}");
        if (!compacted.Contains($"compacted revision {revision}", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"etcdctl compact {revision} said: {compacted}");
        }

        return revision;
    }

    /// <summary>Runs etcdctl against the cluster (API v3) and returns what it printed.</summary>
    public string Etcdctl(string arguments) => Run("etcdctl", $"--endpoints={string.Join(",", Endpoints)} {arguments}");

    /// <summary>The member that is the raft leader now (asks each member with etcdctl).</summary>
    public int Leader()
    {
        for (var i = 0; i < _members.Count; i++)
        {
            if (_processes[i] is { HasExited: false })
            {
                var status = Run("etcdctl", $"--endpoints={Endpoints[i]} endpoint status -w simple");
                if (status.Contains(", true,", StringComparison.Ordinal))
                {
                    return i;
                }
            }
        }

        throw new InvalidOperationException("no etcd leader");
    }

    public ValueTask DisposeAsync()
    {
        foreach (var p in _processes)
        {
            if (p is { HasExited: false })
            {
                p.Kill();
                p.WaitForExit();
            }

            p?.Dispose();
        }

        foreach (var m in _members)
        {
            Directory.Delete(m.Directory, recursive: true);
        }

        return ValueTask.CompletedTask;
    }

    private void Start(int index)
    {
        var m = _members[index];
        var initial = string.Join(",", _members.Select(x => $"{x.Name}=http://127.0.0.1:{x.PeerPort}"));
        // On a restart the data directory decides; the initial-cluster flags are then ignored.
        var start = new ProcessStartInfo("etcd") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[]
        {
            "--name", m.Name, "--data-dir", m.Directory, "--logger=zap", "--log-outputs=stderr", "--log-level=error",
            "--listen-client-urls", $"http://127.0.0.1:{m.ClientPort}", "--advertise-client-urls", $"http://127.0.0.1:{m.ClientPort}",
            "--listen-peer-urls", $"http://127.0.0.1:{m.PeerPort}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{m.PeerPort}",
            "--initial-cluster", initial, "--initial-cluster-state", "new", "--initial-cluster-token", Path.GetFileName(_members[0].Directory),
        })
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes[index] = process;
    }

    // A three-member etcd elects its leader over loopback; on two busy cores (CI builds and tests in parallel)
    // that once took longer than 30 s, so the wait is 60 s and a failure shows what etcdctl said last.
    private async Task WaitHealthyAsync()
    {
        var clock = Stopwatch.StartNew();
        var health = "";
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            health = Run("etcdctl", $"--endpoints={string.Join(",", Endpoints)} endpoint health --command-timeout=1s");
            if (health.Split('\n').Count(l => l.Contains("is healthy", StringComparison.Ordinal)) == _members.Count)
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException($"etcd did not become healthy within 60 s; etcdctl said: {health}");
    }

    private static string Run(string file, string arguments)
    {
        var start = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.Environment["ETCDCTL_API"] = "3";
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return output;
    }

    private static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
