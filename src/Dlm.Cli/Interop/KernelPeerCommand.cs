using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dlm.Cli.Bench;
using Dlm.Membership;
using Dlm.Messaging;
using Dlm.Protocol;

namespace Dlm.Cli.Interop;

/// <summary>
/// <c>dlm kernel-peer</c>: this node as the host node of the kernel-VM harness (docs/interop.md). It joins
/// the kernel's lockspace (answering or, as node 1, coordinating its recovery), runs the workloads asked
/// for (LVB counter, EX against the kernel's PR holder, a PR hold the kernel's request must break), and
/// when the kernel leaves (its FIN) removes it from the membership, answers with its own FIN and exits.
/// Writes its verdict to $DLM_RUN_DIR/dotnet-peer.json.
/// </summary>
internal static class KernelPeerCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout)
    {
        var o = KernelPeerOptions.Parse(args, Environment.GetEnvironmentVariable);
        var cluster = new ClusterConfiguration
        {
            Cluster = "kernel",
            Port = o.Port,
            Nodes = [new ClusterNode { Id = o.HostId, Addresses = [o.HostIp] }, new ClusterNode { Id = o.GuestId, Addresses = [o.GuestIp] }],
        };
        var result = new JsonObject { ["node"] = o.HostId, ["kernel_node"] = o.GuestId, ["lockspace"] = o.Lockspace };
        var membership = new ManualMembership(o.HostId, cluster.ToStaticMembers().Members);
        await using var m = membership.ConfigureAwait(false);
        var node = await DlmNode.StartAsync(new DlmNodeOptions
        {
            Cluster = cluster, NodeId = o.HostId, Membership = membership, LoggerFactory = CliLogging.Factory, LeaveTimeout = TimeSpan.FromSeconds(10),
        }).ConfigureAwait(false);
        var finished = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        var peerLeft = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var peerClosed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        node.Messaging.PeerStateChanged += (id, state) =>
        {
            if (id != o.GuestId)
            {
                return;
            }

            if (state == PeerState.CloseWait)
            {
                peerLeft.TrySetResult(); // the kernel left the lockspace and runs its FIN handshake (spec §2.9)
            }
            else if (state == PeerState.Closed && peerLeft.Task.IsCompleted)
            {
                peerClosed.TrySetResult();
            }
        };
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; finished.TrySetResult(DlmCli.Failed); });
        var log = new Log(stdout);
        log.Say($"dlm kernel-peer: node {o.HostId} on {o.HostIp}:{o.Port}, kernel node {o.GuestId} at {o.GuestIp}, lockspace '{o.Lockspace}' lvblen {o.LvbLength}");
        var total = Stopwatch.StartNew();
        try
        {
            var join = Stopwatch.StartNew();
            var space = await node.JoinLockspaceAsync(o.Lockspace, new LockspaceOptions { LvbLength = o.LvbLength })
                .WaitAsync(TimeSpan.FromSeconds(o.Timeout)).ConfigureAwait(false);
            result["join_ms"] = Math.Round(join.Elapsed.TotalMilliseconds, 1);
            result["generation"] = space.Generation;
            result["slot"] = space.Slot;
            log.Say($"JOIN OK in {join.Elapsed.TotalMilliseconds:F0} ms: generation {space.Generation}, slot {space.Slot}, members {string.Join(",", space.Members)}");

            var workloads = new Workloads(space, o, log, result);
            await workloads.RunAsync().ConfigureAwait(false);

            log.Say("waiting for the kernel to leave");
            await Task.WhenAny(peerLeft.Task, finished.Task, Task.Delay(TimeSpan.FromSeconds(o.Timeout), TimeProvider.System)).ConfigureAwait(false);
            if (peerLeft.Task.IsCompleted)
            {
                var leave = Stopwatch.StartNew();
                membership.Remove(o.GuestId, LeaveReason.Leave); // as dlm_controld would on the kernel's leave
                await Task.WhenAny(peerClosed.Task, Task.Delay(TimeSpan.FromSeconds(15), TimeProvider.System)).ConfigureAwait(false);
                result["leave_handshake_ms"] = Math.Round(leave.Elapsed.TotalMilliseconds, 1);
                result["leave_ok"] = peerClosed.Task.IsCompleted;
                log.Say(peerClosed.Task.IsCompleted ? $"LEAVE OK: FIN handshake with the kernel done in {leave.Elapsed.TotalMilliseconds:F0} ms" : "LEAVE BAD: the FIN handshake did not finish");
            }
            else
            {
                result["leave_ok"] = false;
                log.Say("LEAVE BAD: the kernel never left");
            }
        }
        catch (Exception e) when (e is TimeoutException or DlmException)
        {
            result["error"] = e.Message;
            log.Say($"FAILED: {e.Message}");
        }
        finally
        {
            result["wall_s"] = Math.Round(total.Elapsed.TotalSeconds, 2);
            var peer = node.Messaging.GetStatistics(o.GuestId);
            result["kernel_version"] = peer.Version == 0 ? "unknown" : $"{peer.Version >> 16}.{peer.Version & 0xFFFF}";
            result["delivered"] = peer.Delivered;
            result["retransmitted"] = peer.Retransmitted;
            await node.DisposeAsync().ConfigureAwait(false);
            var json = result.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
            log.Say(json);
            if (o.RunDirectory is { } dir)
            {
                await File.WriteAllTextAsync(Path.Combine(dir, "dotnet-peer.json"), json).ConfigureAwait(false);
            }
        }

        var ok = result["error"] is null && result["leave_ok"]?.GetValue<bool>() == true && result["counter_ok"]?.GetValue<bool>() != false
            && result["bast_ok"]?.GetValue<bool>() != false && result["ex_ok"]?.GetValue<bool>() != false;
        log.Say(ok ? "RESULT PASS" : "RESULT FAIL");
        return ok ? DlmCli.Ok : DlmCli.Failed;
    }

    internal sealed class Log(TextWriter output)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();

        public void Say(FormattableString text) => Say(text.ToString(CultureInfo.InvariantCulture));

        public void Say(string text)
        {
            lock (output)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{_clock.Elapsed.TotalSeconds,8:F3} {text}"));
                output.Flush();
            }
        }
    }

    /// <summary>The host node's side of the harness workloads.</summary>
    private sealed class Workloads(Lockspace space, KernelPeerOptions o, Log log, JsonObject result)
    {
        public async Task RunAsync()
        {
            // A PR hold the kernel's own request must break: with the counter, its first EX does.
            Task? holdReleased = null;
            if (o.HoldPr is { } hold)
            {
                holdReleased = HoldAsync(hold);
            }

            if (o.Exclusive is { } exclusive)
            {
                await ExclusiveAgainstKernelAsync(exclusive).ConfigureAwait(false);
            }

            if (holdReleased is not null && o.Counter > 0 && o.HoldPr == o.CounterResource)
            {
                await holdReleased.ConfigureAwait(false); // our increments start after the kernel broke our hold
            }

            if (o.Counter > 0 || o.CounterExpect > 0)
            {
                await CounterAsync().ConfigureAwait(false);
            }

            if (holdReleased is not null)
            {
                await holdReleased.ConfigureAwait(false);
            }
        }

        private async Task HoldAsync(string name)
        {
            var bast = new TaskCompletionSource<LockMode>(TaskCreationOptions.RunContinuationsAsynchronously);
            var held = await space.LockAsync(name, LockMode.ProtectedRead, new LockRequest { Blocking = (_, mode) => bast.TrySetResult(mode) }).ConfigureAwait(false);
            log.Say($"HOLD {name} at PR");
            var asked = Stopwatch.StartNew();
            var done = await Task.WhenAny(bast.Task, Task.Delay(TimeSpan.FromSeconds(o.Timeout / 2), TimeProvider.System)).ConfigureAwait(false);
            await held.DisposeAsync().ConfigureAwait(false);
            var got = done == bast.Task;
            result["bast_ok"] = got;
            var mode = got ? LockModes.ShortName(await bast.Task.ConfigureAwait(false)) : null;
            result["bast_mode"] = mode;
            log.Say(got ? $"BAST {name} mode {mode}: PR released" : $"HOLD {name} released without a BAST");
        }

        // EX on a resource the kernel holds at PR: the kernel gets a BAST, releases, and we are granted.
        private async Task ExclusiveAgainstKernelAsync(string name)
        {
            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed.TotalSeconds < 30)
            {
                var probe = await space.TryLockAsync(name, LockMode.Exclusive).ConfigureAwait(false);
                if (probe is null)
                {
                    break; // the kernel holds it
                }

                await probe.DisposeAsync().ConfigureAwait(false);
                await Task.Delay(TimeSpan.FromMilliseconds(50), TimeProvider.System).ConfigureAwait(false);
            }

            var asked = Stopwatch.StartNew();
            var granted = await space.LockAsync(name, LockMode.Exclusive).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            result["ex_ok"] = true;
            result["ex_wait_ms"] = Math.Round(asked.Elapsed.TotalMilliseconds, 1);
            log.Say($"EX {name} granted after {asked.Elapsed.TotalMilliseconds:F0} ms (the kernel's PR holder gave way on its BAST)");
            await granted.DisposeAsync().ConfigureAwait(false);
        }

        // The guest's LVB counter: EX with VALBLK, +1 on the little-endian u64 at 0, write back by converting to NL, unlock.
        private async Task CounterAsync()
        {
            var name = o.CounterResource;
            var anchor = await space.LockAsync(name, LockMode.Null, new LockRequest { ValueBlock = true }).ConfigureAwait(false);
            await using var a = anchor.ConfigureAwait(false);
            var cycles = new Percentiles(Math.Max(1, o.Counter));
            var valueNotValid = 0;
            for (var i = 0; i < o.Counter; i++)
            {
                var started = Stopwatch.GetTimestamp();
                var held = await space.LockAsync(name, LockMode.Exclusive, new LockRequest { ValueBlock = true }).ConfigureAwait(false);
                valueNotValid += held.ValueNotValid ? 1 : 0;
                var value = BinaryPrimitives.ReadUInt64LittleEndian(held.ValueBlock.Span);
                BinaryPrimitives.WriteUInt64LittleEndian(held.ValueBlock.Span, value + 1);
                await held.ConvertAsync(LockMode.Null).ConfigureAwait(false);
                await held.DisposeAsync().ConfigureAwait(false);
                cycles.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
            }

            log.Say($"COUNTER {o.Counter} increments done; cycle p50 {cycles.At(0.5):F0} us p99 {cycles.At(0.99):F0} us");
            ulong final = 0;
            var polling = Stopwatch.StartNew();
            while (polling.Elapsed.TotalSeconds < 60)
            {
                var reader = await space.LockAsync(name, LockMode.ProtectedRead, new LockRequest { ValueBlock = true }).ConfigureAwait(false);
                final = BinaryPrimitives.ReadUInt64LittleEndian(reader.ValueBlock.Span);
                await reader.DisposeAsync().ConfigureAwait(false);

                if ((long)final >= o.CounterExpect)
                {
                    break;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), TimeProvider.System).ConfigureAwait(false);
            }

            var ok = (long)final == o.CounterExpect;
            result["counter_increments"] = o.Counter;
            result["counter_value"] = final;
            result["counter_expect"] = o.CounterExpect;
            result["counter_ok"] = ok;
            result["counter_value_not_valid_grants"] = valueNotValid;
            result["counter_cycle_p50_us"] = Math.Round(cycles.At(0.5), 1);
            result["counter_cycle_p99_us"] = Math.Round(cycles.At(0.99), 1);
            log.Say(ok ? $"COUNTER OK {final}" : $"COUNTER BAD {final} expected {o.CounterExpect}");
        }
    }
}
