using System.Globalization;

namespace Dlm.Cli.Interop;

/// <summary>
/// Options of <c>dlm kernel-peer</c>: the node and lockspace from the variables the kernel-VM harness exports
/// (DLM_HOST_IP, DLM_PORT, DLM_GUEST_IP, DLM_HOST_NODEID, DLM_GUEST_NODEID, DLM_LOCKSPACE, DLM_LVBLEN,
/// DLM_RUN_DIR, DLM_GUEST_ARGS), the workloads from the command line.
/// </summary>
internal sealed record KernelPeerOptions
{
    public required string HostIp { get; init; }
    public required string GuestIp { get; init; }
    public int Port { get; init; } = 21064;
    public int HostId { get; init; } = 2;
    public int GuestId { get; init; } = 1;
    public string Lockspace { get; init; } = "kvmtest";
    public int LvbLength { get; init; } = 32;
    public string? RunDirectory { get; init; }
    public int Counter { get; init; }
    public string CounterResource { get; init; } = "counter";
    public long CounterExpect { get; init; }
    public string? Exclusive { get; init; }
    public string? HoldPr { get; init; }
    public double Timeout { get; init; } = 300;

    public static KernelPeerOptions Parse(string[] args, Func<string, string?> env)
    {
        var c = CultureInfo.InvariantCulture;
        string Need(string name) => env(name) ?? throw new UsageException($"'dlm kernel-peer' runs under the kernel-VM harness: {name} is not set");
        int Number(string name, int fallback) => env(name) is { } v ? int.Parse(v, c) : fallback;
        var guestArgs = (env("DLM_GUEST_ARGS") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string? GuestOption(string name) => Array.IndexOf(guestArgs, name) is var i and >= 0 && i + 1 < guestArgs.Length ? guestArgs[i + 1] : null;
        var o = new KernelPeerOptions
        {
            HostIp = Need("DLM_HOST_IP"),
            GuestIp = Need("DLM_GUEST_IP"),
            Port = Number("DLM_PORT", 21064),
            HostId = Number("DLM_HOST_NODEID", 2),
            GuestId = Number("DLM_GUEST_NODEID", 1),
            Lockspace = env("DLM_LOCKSPACE") ?? "kvmtest",
            LvbLength = Number("DLM_LVBLEN", 32),
            RunDirectory = env("DLM_RUN_DIR"),
            CounterResource = GuestOption("--counter-resource") ?? "counter",
        };
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--counter" => o with { Counter = int.Parse(Value(), c) },
                "--ex" => o with { Exclusive = Value() },
                "--hold-pr" => o with { HoldPr = Value() },
                "--timeout" => o with { Timeout = double.Parse(Value(), c) },
                _ => throw new UsageException($"unknown option for 'dlm kernel-peer': {args[i]}"),
            };
        }

        var guestCounter = GuestOption("--counter") is { } n ? long.Parse(n, c) : 0;
        var expect = GuestOption("--counter-expect") is { } e ? long.Parse(e, c) : guestCounter + o.Counter;
        return o with { CounterExpect = expect };
    }
}
