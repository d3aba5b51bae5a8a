using System.Text.Json.Serialization;

namespace Dlm.Cli.Bench;

/// <summary>What <c>dlm bench comms --json</c> prints (one object).</summary>
internal sealed record CommsBenchResult
{
    [JsonPropertyName("nodes")] public int Nodes { get; init; }
    [JsonPropertyName("processes")] public bool Processes { get; init; }
    [JsonPropertyName("rounds")] public int Rounds { get; init; } = 1;
    [JsonPropertyName("message_bytes")] public int MessageBytes { get; init; }
    [JsonPropertyName("messages")] public long Messages { get; init; }
    [JsonPropertyName("lost")] public long Lost { get; init; }
    [JsonPropertyName("duplicated")] public long Duplicated { get; init; }
    [JsonPropertyName("reordered")] public long Reordered { get; init; }
    [JsonPropertyName("elapsed_s")] public double ElapsedSeconds { get; init; }
    [JsonPropertyName("throughput_msgs_per_s")] public double ThroughputMsgsPerSecond { get; init; }
    [JsonPropertyName("throughput_msgs_per_s_per_direction")] public double ThroughputPerDirection { get; init; }
    [JsonPropertyName("throughput_mb_per_s")] public double ThroughputMegabytesPerSecond { get; init; }
    [JsonPropertyName("baseline_msgs_per_s")] public double BaselineMsgsPerSecond { get; init; }
    [JsonPropertyName("throughput_ratio")] public double ThroughputRatio { get; init; }
    [JsonPropertyName("cpu_ns_per_message")] public double CpuNanosecondsPerMessage { get; init; }
    [JsonPropertyName("baseline_cpu_ns_per_message")] public double BaselineCpuNanosecondsPerMessage { get; init; }

    /// <summary>The user-mode part of <see cref="CpuNanosecondsPerMessage"/> (median of the rounds); the rest is the kernel's.</summary>
    [JsonPropertyName("cpu_user_ns_per_message")] public double CpuUserNanosecondsPerMessage { get; init; }
    [JsonPropertyName("baseline_cpu_user_ns_per_message")] public double BaselineCpuUserNanosecondsPerMessage { get; init; }

    /// <summary>
    /// The process's CPU time over the sending phase divided by the phase's length times the processors it
    /// may run on (median of the rounds): 1 when every core was busy throughout. Below 1 the phase waited for
    /// something other than CPU. In-process runs only.
    /// </summary>
    [JsonPropertyName("cpu_busy")] public double CpuBusy { get; init; }
    [JsonPropertyName("baseline_cpu_busy")] public double BaselineCpuBusy { get; init; }
    [JsonPropertyName("rtt_p50_us")] public double RttP50 { get; init; }
    [JsonPropertyName("rtt_p99_us")] public double RttP99 { get; init; }
    [JsonPropertyName("baseline_rtt_p50_us")] public double BaselineRttP50 { get; init; }
    [JsonPropertyName("baseline_rtt_p99_us")] public double BaselineRttP99 { get; init; }
    [JsonPropertyName("rtt_ratio")] public double RttRatio { get; init; }

    /// <summary>Each interleaved block's ratio of our p50 to the raw p50, in order (rtt_ratio is their median).</summary>
    [JsonPropertyName("rtt_block_ratios")] public IReadOnlyList<double> RttBlockRatios { get; init; } = [];
    [JsonPropertyName("resets")] public long Resets { get; init; }
    [JsonPropertyName("retransmitted")] public long Retransmitted { get; init; }
    [JsonPropertyName("duplicates_dropped")] public long DuplicatesDropped { get; init; }
    [JsonPropertyName("max_queued_messages")] public long MaxQueuedMessages { get; init; }
    [JsonPropertyName("shutdown_ms")] public double ShutdownMilliseconds { get; init; }
    [JsonPropertyName("peak_working_set_bytes")] public long PeakWorkingSetBytes { get; init; }

    /// <summary>The throughput fields from what was sent, how long it took and the baseline's rate.</summary>
    public static CommsBenchResult Measured(CommsBenchOptions o, double seconds, double baselineMsgsPerSecond)
    {
        var total = o.TotalMessages;
        return new CommsBenchResult
        {
            Nodes = o.Nodes,
            Processes = o.Processes,
            Rounds = o.Repeat,
            MessageBytes = BenchMessages.WireLength,
            Messages = total,
            ElapsedSeconds = seconds,
            ThroughputMsgsPerSecond = total / seconds,
            ThroughputPerDirection = o.Messages / seconds,
            ThroughputMegabytesPerSecond = total * BenchMessages.WireLength / seconds / 1e6,
            BaselineMsgsPerSecond = baselineMsgsPerSecond,
            ThroughputRatio = total / seconds / baselineMsgsPerSecond,
        };
    }

    [JsonIgnore] public bool Passed => Lost == 0 && Duplicated == 0 && Reordered == 0;
}
