using System.Globalization;

namespace Dlm.Cli.Node;

/// <summary>Options of <c>dlm node</c> and of the commands that talk to a running node.</summary>
internal sealed record NodeOptions
{
    public string? Config { get; init; }
    public int Id { get; init; }
    public List<string> Lockspaces { get; init; } = [];
    public int LvbLength { get; init; } = 32;
    public string? Control { get; init; }
    public string? State { get; init; }
    public bool Json { get; init; }
    public string? Address { get; init; }
    public List<string> Positional { get; init; } = [];

    public static NodeOptions Parse(string[] args, string command)
    {
        var o = new NodeOptions();
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--config": o = o with { Config = Value() }; break;
                case "--id": o = o with { Id = int.TryParse(Value(), CultureInfo.InvariantCulture, out var id) && id > 0 ? id : throw new UsageException("--id takes a positive node id") }; break;
                case "--lockspace": o.Lockspaces.Add(Value()); break;
                case "--lvblen": o = o with { LvbLength = int.TryParse(Value(), CultureInfo.InvariantCulture, out var l) && l >= 0 && l % 8 == 0 ? l : throw new UsageException("--lvblen takes a multiple of 8") }; break;
                case "--control": o = o with { Control = Value() }; break;
                case "--state": o = o with { State = Value() }; break;
                case "--address": o = o with { Address = Value() }; break;
                case "--json": o = o with { Json = true }; break;
                default:
                    if (args[i].StartsWith("--", StringComparison.Ordinal))
                    {
                        throw new UsageException($"unknown option for 'dlm {command}': {args[i]}");
                    }

                    o.Positional.Add(args[i]);
                    break;
            }
        }

        return o;
    }

    public string RequireConfig(string command) => Config ?? throw new UsageException($"'dlm {command}' needs --config PATH (the cluster file)");

    /// <summary>The control socket: --control, else one per cluster file and node id in the temp directory.</summary>
    public string ControlPath(ClusterConfiguration? cluster) => Control
        ?? (cluster is null || Id == 0
            ? throw new UsageException("give --control PATH, or --config PATH and --id N of the running node")
            : Path.Combine(Path.GetTempPath(), $"dlm-{cluster.Cluster}-{Id}.sock"));

    /// <summary>The state directory of the static membership's stop barrier: next to the cluster file.</summary>
    public string StatePath(string config) => State ?? config + ".state";
}
