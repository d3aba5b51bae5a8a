using System.Globalization;
using System.Net;
using Dlm.Protocol;

namespace Dlm.Cli.Demo;

/// <summary>Options of <c>dlm demo</c>.</summary>
internal sealed record DemoOptions
{
    public int Nodes { get; init; } = 3;
    public int Resources { get; init; } = 4;
    public int Writers { get; init; } = 2;
    public double Seconds { get; init; } = 3;
    public bool Json { get; init; }
    public IPAddress BaseAddress { get; init; } = IPAddress.Parse("127.0.0.1");
    public int Port { get; init; } = WireLimits.DefaultPort;
    public int Seed { get; init; } = 7;
    public bool Processes { get; init; }
    public bool KillOne { get; init; }
    public bool Restart { get; init; }
    public int Plain { get; init; }
    public string? Config { get; init; }
    public string? Journal { get; init; }
    public IReadOnlyList<string>? Etcd { get; init; }

    /// <summary>With --kill-one: node 1 dies (the recovery coordinator and master of the plain resources).</summary>
    public const int Victim = 1;

    /// <summary>With --kill-one: node 2 masters the counters, so their LVBs stay exact.</summary>
    public const int CounterMaster = 2;

    public static DemoOptions Parse(string[] args)
    {
        var o = new DemoOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--nodes" => o with { Nodes = Int(Value(), "--nodes", 1, 64) },
                "--resources" => o with { Resources = Int(Value(), "--resources", 1, 10_000) },
                "--writers" => o with { Writers = Int(Value(), "--writers", 1, 64) },
                "--seconds" => o with { Seconds = double.TryParse(Value(), CultureInfo.InvariantCulture, out var s) && s is > 0 and <= 3600 ? s : throw new UsageException("--seconds takes a number in (0, 3600]") },
                "--json" => o with { Json = true },
                "--processes" => o with { Processes = true },
                "--kill-one" => o with { KillOne = true },
                "--restart" => o with { Restart = true },
                "--plain" => o with { Plain = Int(Value(), "--plain", 0, 10_000) },
                "--config" => o with { Config = Value() },
                "--journal" => o with { Journal = Value() },
                "--etcd" => o with { Etcd = Value().Split(',', StringSplitOptions.RemoveEmptyEntries) },
                "--base" => o with { BaseAddress = IPAddress.TryParse(Value(), out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? a : throw new UsageException("--base takes an IPv4 address such as 127.0.0.1") },
                "--port" => o with { Port = Int(Value(), "--port", 1, 65535) },
                "--seed" => o with { Seed = Int(Value(), "--seed", 0, int.MaxValue) },
                _ => throw new UsageException($"unknown option for 'dlm demo': {args[i]}"),
            };
        }

        if (o.KillOne && (!o.Processes || o.Nodes < 3))
        {
            throw new UsageException("--kill-one needs --processes and at least 3 nodes (two survive)");
        }

        if (o.Etcd is not null && !o.KillOne)
        {
            throw new UsageException("--etcd is for --kill-one: the killed node's lease expiry drives recovery");
        }

        if (o.Restart && !o.KillOne)
        {
            throw new UsageException("--restart brings back the node --kill-one killed; give both");
        }

        if (o.KillOne && o.Plain == 0)
        {
            o = o with { Plain = 4 };
        }

        return o.BaseAddress.GetAddressBytes()[3] + o.Nodes - 1 > 254
            ? throw new UsageException("--base plus --nodes runs past x.x.x.254; pick a lower base address")
            : o;
    }

    public ClusterConfiguration Cluster()
    {
        var bytes = BaseAddress.GetAddressBytes();
        return new ClusterConfiguration
        {
            Cluster = "demo",
            Port = Port,
            Nodes = Enumerable.Range(0, Nodes).Select(i =>
            {
                var b = (byte[])bytes.Clone();
                b[3] = (byte)(b[3] + i);
                return new ClusterNode { Id = i + 1, Addresses = [new IPAddress(b).ToString()] };
            }).ToList(),
        };
    }

    private static int Int(string text, string name, int min, int max) =>
        int.TryParse(text, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new UsageException($"{name} takes a whole number in {min}..{max}; got '{text}'");
}
