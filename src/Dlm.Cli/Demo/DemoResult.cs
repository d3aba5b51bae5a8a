using System.Text.Json.Serialization;

namespace Dlm.Cli.Demo;

/// <summary>What <c>dlm demo --json</c> prints.</summary>
internal sealed record DemoResult
{
    [JsonPropertyName("nodes")] public int Nodes { get; init; }
    [JsonPropertyName("processes")] public bool Processes { get; init; }
    [JsonPropertyName("resources")] public int Resources { get; init; }
    [JsonPropertyName("seconds")] public double Seconds { get; init; }
    [JsonPropertyName("increments")] public long Increments { get; init; }
    [JsonPropertyName("counter_sum")] public long CounterSum { get; init; }
    [JsonPropertyName("reads")] public long Reads { get; init; }
    [JsonPropertyName("cached_grants")] public long CachedGrants { get; init; }
    [JsonPropertyName("blocking_callbacks_honoured")] public long BlockingHonoured { get; init; }
    [JsonPropertyName("operations_per_s")] public double OperationsPerSecond { get; init; }
    [JsonPropertyName("local_p50_us")] public double LocalP50 { get; init; }
    [JsonPropertyName("local_p99_us")] public double LocalP99 { get; init; }
    [JsonPropertyName("remote_p50_us")] public double RemoteP50 { get; init; }
    [JsonPropertyName("remote_p99_us")] public double RemoteP99 { get; init; }
    [JsonPropertyName("local_locks")] public long LocalLocks { get; init; }
    [JsonPropertyName("remote_locks")] public long RemoteLocks { get; init; }
    [JsonPropertyName("messages")] public long Messages { get; init; }
    [JsonPropertyName("retransmitted")] public long Retransmitted { get; init; }
    [JsonPropertyName("checker_events")] public long CheckerEvents { get; init; }
    [JsonPropertyName("violations")] public IReadOnlyList<string> Violations { get; init; } = [];
    [JsonPropertyName("leave_ms")] public double LeaveMilliseconds { get; init; }
    [JsonPropertyName("killed_node")] public int? Killed { get; init; }
    [JsonPropertyName("killed_node_held_locks")] public int KilledHeldLocks { get; init; }
    [JsonPropertyName("increments_lost_in_flight")] public long LostInFlight { get; init; }
    [JsonPropertyName("membership")] public string Membership { get; init; } = "static";
    [JsonPropertyName("kill_detection_ms")] public double KillDetectionMs { get; init; } = double.NaN;
    [JsonPropertyName("kill_recovery_ms")] public double KillRecoveryMs { get; init; } = double.NaN;
    [JsonPropertyName("restarted")] public bool Restarted { get; init; }
    [JsonPropertyName("restart_recovery_ms")] public double RestartRecoveryMs { get; init; } = double.NaN;
    [JsonPropertyName("passed")] public bool Passed { get; init; }
}
