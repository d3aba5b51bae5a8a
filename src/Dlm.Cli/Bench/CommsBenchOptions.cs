using System.Net;
using Dlm.Protocol;

namespace Dlm.Cli.Bench;

/// <summary>Options of <c>dlm bench comms</c>.</summary>
internal sealed record CommsBenchOptions
{
    public int Nodes { get; init; } = 2;
    public long Messages { get; init; } = 200_000;
    public bool Processes { get; init; }
    public int ResetEveryMs { get; init; }
    public bool Json { get; init; }
    public IPAddress BaseAddress { get; init; } = IPAddress.Parse("127.0.0.1");
    public int Port { get; init; } = WireLimits.DefaultPort;
    public int RoundTrips { get; init; } = 5_000;
    public long Warmup { get; init; } = 200_000;
    public int Repeat { get; init; } = 1;

    /// <summary>Messages in one round: every node sends <see cref="Messages"/> to every other.</summary>
    public long TotalMessages => Messages * Nodes * (Nodes - 1);
    public int Seed { get; init; } = 42;
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(3);

    /// <summary>Node i (1-based) listens on the base address plus i − 1 in its last byte.</summary>
    public IPAddress[] Addresses()
    {
        var bytes = BaseAddress.GetAddressBytes();
        return Enumerable.Range(0, Nodes).Select(i =>
        {
            var b = (byte[])bytes.Clone();
            b[3] = (byte)(b[3] + i);
            return new IPAddress(b);
        }).ToArray();
    }

    public static CommsBenchOptions Parse(string[] args)
    {
        var o = new CommsBenchOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--nodes" => o with { Nodes = Int(Value(), "--nodes", 2, 64) },
                "--messages" => o with { Messages = Int(Value(), "--messages", 1, 100_000_000) },
                "--processes" => o with { Processes = true },
                "--reset-every" => o with { ResetEveryMs = Int(Value(), "--reset-every", 1, 3_600_000) },
                "--json" => o with { Json = true },
                "--base" => o with { BaseAddress = IPAddress.TryParse(Value(), out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? a : throw new UsageException("--base takes an IPv4 address such as 127.0.0.1") },
                "--port" => o with { Port = Int(Value(), "--port", 1, 65534) },
                "--repeat" => o with { Repeat = Int(Value(), "--repeat", 1, 100) },
                "--warmup" => o with { Warmup = Int(Value(), "--warmup", 0, 100_000_000) },
                "--round-trips" => o with { RoundTrips = Int(Value(), "--round-trips", 1, 10_000_000) },
                "--seed" => o with { Seed = Int(Value(), "--seed", 0, int.MaxValue) },
                "--timeout" => o with { Timeout = TimeSpan.FromSeconds(Int(Value(), "--timeout", 1, 86_400)) },
                _ => throw new UsageException($"unknown option for 'dlm bench comms': {args[i]}"),
            };
        }

        if (o.BaseAddress.GetAddressBytes()[3] + o.Nodes - 1 > 254)
        {
            throw new UsageException("--base plus --nodes runs past x.x.x.254; pick a lower base address");
        }

        return o;
    }

    private static int Int(string text, string name, int min, int max) =>
        int.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var v) && v >= min && v <= max
            ? v
            : throw new UsageException($"{name} takes a whole number in {min}..{max}; got '{text}'");
}
