using System.Globalization;
using System.Text.Json;
using Dlm.Cli.Bench;

namespace Dlm.Cli;

/// <summary><c>dlm bench comms</c>: end-to-end messaging benchmark with a raw-TCP baseline from the same run.</summary>
internal static class BenchCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout)
    {
        var options = CommsBenchOptions.Parse(args);
        var result = options.Processes
            ? await ProcessBench.RunAsync(options, CancellationToken.None).ConfigureAwait(false)
            : await CommsBench.RunInProcessAsync(options, CancellationToken.None).ConfigureAwait(false);
        if (options.Json)
        {
            await stdout.WriteLineAsync(JsonSerializer.Serialize(result, ReportJson.Options)).ConfigureAwait(false);
        }
        else
        {
            Print(result, stdout);
        }

        return result.Passed ? DlmCli.Ok : DlmCli.Failed;
    }

    private static void Print(CommsBenchResult r, TextWriter o)
    {
        var c = CultureInfo.InvariantCulture;
        o.WriteLine(string.Create(c, $"dlm bench comms: {r.Nodes} nodes ({(r.Processes ? "one process each" : "one process")}), {r.MessageBytes}-byte messages, {r.Messages:N0} messages{(r.Rounds > 1 ? $", median of {r.Rounds} rounds" : "")}"));
        o.WriteLine(string.Create(c, $"  delivery   : {r.Lost} lost, {r.Duplicated} duplicated, {r.Reordered} reordered -> {(r.Passed ? "OK" : "FAILED")}"));
        o.WriteLine(string.Create(c, $"  throughput : {r.ThroughputMsgsPerSecond:N0} msgs/s ({r.ThroughputPerDirection:N0} per direction), {r.ThroughputMegabytesPerSecond:F1} MB/s"));
        o.WriteLine(string.Create(c, $"  baseline   : raw TCP {r.BaselineMsgsPerSecond:N0} msgs/s; ratio {r.ThroughputRatio:F2}"));
        if (r.CpuNanosecondsPerMessage > 0)
        {
            o.WriteLine(string.Create(c, $"  cpu        : {r.CpuNanosecondsPerMessage:F0} ns per message (both cores; {r.CpuUserNanosecondsPerMessage:F0} in user mode); raw TCP {r.BaselineCpuNanosecondsPerMessage:F0} ns ({r.BaselineCpuUserNanosecondsPerMessage:F0} in user mode)"));
            o.WriteLine(string.Create(c, $"  busy       : {r.CpuBusy:P0} of {Environment.ProcessorCount} cores while sending; raw TCP {r.BaselineCpuBusy:P0}"));
        }

        o.WriteLine(string.Create(c, $"  round trip : p50 {r.RttP50:F1} us, p99 {r.RttP99:F1} us; raw TCP p50 {r.BaselineRttP50:F1} us, p99 {r.BaselineRttP99:F1} us; ratio {r.RttRatio:F2} (median of interleaved blocks)"));
        o.WriteLine(string.Create(c, $"  faults     : {r.Resets} resets, {r.Retransmitted} retransmitted, {r.DuplicatesDropped} duplicates dropped"));
        o.WriteLine(string.Create(c, $"  memory     : peak working set {r.PeakWorkingSetBytes / 1e6:F1} MB, at most {r.MaxQueuedMessages:N0} messages queued to a peer"));
        o.WriteLine(string.Create(c, $"  shutdown   : FIN handshake and close in {r.ShutdownMilliseconds:F0} ms"));
    }
}
