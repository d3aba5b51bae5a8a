using Dlm.Cli.Bench;

namespace Dlm.Cli;

/// <summary>Entry point of the <c>dlm</c> tool, callable in-process by tests.</summary>
internal static class DlmCli
{
    /// <summary>Exit code: every check passed / every message valid.</summary>
    public const int Ok = 0;
    /// <summary>Exit code: the command ran and found a problem (invalid message, failed check).</summary>
    public const int Failed = 1;
    /// <summary>Exit code: the command line was wrong.</summary>
    public const int Usage = 2;

    public const string Help = """
        dlm — a distributed lock manager for .NET, wire-compatible with the Linux kernel DLM (protocol 3.2)

        Usage:
          dlm demo [--nodes 3] [--resources 4] [--writers 2] [--seconds 3] [--processes] [--json]
                   [--base 127.0.0.1] [--port 21064] [--seed N] [--kill-one [--restart] [--etcd URL,...]]
                                                      the main job: N nodes on 127.0.0.1..N lock shared counters
                                                      (EX + LVB), readers (PR) and cached locks (BAST); checks the
                                                      counters and that no incompatible locks ever overlapped;
                                                      --kill-one (with --processes): SIGKILL node 1 mid-run, the
                                                      survivors recover; --restart: it comes back; --etcd: etcd
                                                      membership, the lease expiry detects the kill
          dlm node --config FILE --id N [--lockspace NAME]... [--lvblen 32] [--control SOCKET] [--state DIR]
                                                      run one node until SIGTERM: membership from the cluster
                                                      file (static; the stop barrier in DIR, default FILE.state),
                                                      a control socket (default /tmp/dlm-CLUSTER-N.sock)
          dlm status | ls [--config FILE --id N | --control SOCKET] [--json]
          dlm lockdump NAME [--config FILE --id N | --control SOCKET] [--json]
                                                      ask a running node: peers and lockspaces, lockspaces,
                                                      the resources and locks of one lockspace
          dlm member add|remove --config FILE --id N [--address IP]
                                                      change the static membership (bumps the generation;
                                                      running nodes stop, recover and resume)
          dlm kernel-peer [--counter N] [--ex NAME] [--hold-pr NAME] [--timeout S]
                                                      the host node of the kernel-VM harness (tests/interop/kernel.sh):
                                                      joins the kernel's lockspace from the DLM_* variables, runs
                                                      the workloads, leaves when the kernel leaves (docs/interop.md)
          dlm wire decode [--hex HEX | --hex-file PATH | --file PATH]
                                                      decode a DLM byte stream to JSON lines, one per
                                                      message (binary stdin if no option; '#' lines
                                                      in a hex file are comments)
          dlm wire hash NAME                          resource hash (Linux jhash) of NAME, as 0xXXXXXXXX
          dlm wire lockspace-id NAME                  lockspace global id (CRC-32 of "dlm:ls:NAME\0")
          dlm bench comms [--nodes N] [--messages N] [--processes] [--reset-every MS] [--json]
                          [--base 127.0.0.1] [--port 21064] [--round-trips N] [--warmup N] [--repeat N] [--seed N] [--timeout S]
                                                      messaging benchmark: N nodes on 127.0.0.x, each sends
                                                      N counted messages to every other; checks exactly-once
                                                      in-order delivery; raw-TCP baseline (port+1) in the
                                                      same run (--repeat N alternates N rounds of both and
                                                      reports medians); exit 1 if anything was lost or reordered
          dlm bench locks [--nodes 3] [--resources 1000] [--workers 8] [--seconds 2] [--json] [--base 127.0.0.1]
                                                      lock + unlock throughput with 1..N nodes, and remote
                                                      lock + unlock latency against two raw-TCP round trips
          dlm bench recovery [--locks 10000] [--json] [--base 127.0.0.1]
                                                      recovery time: 3 nodes hold the locks, node 3 fails, the
                                                      survivors remaster and rebuild; view to locking enabled
          dlm help                                    this text

        Exit codes: 0 success, 1 invalid input or failed check, 2 usage error.
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, Stream stdin)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        try
        {
            return args switch
            {
                ["wire", "decode", .. var rest] => await WireDecodeCommand.RunAsync(rest, stdout, stderr, stdin).ConfigureAwait(false),
                ["demo", .. var rest] => await DemoCommand.RunAsync(rest, stdout).ConfigureAwait(false),
                ["demo-node", .. var rest] => await DemoCommand.RunNodeAsync(rest, stdout, stdin).ConfigureAwait(false),
                ["bench", "comms", .. var rest] => await BenchCommand.RunAsync(rest, stdout).ConfigureAwait(false),
                ["bench", "locks", .. var rest] => await LockBench.RunAsync(rest, stdout).ConfigureAwait(false),
                ["bench", "recovery", .. var rest] => await RecoveryBench.RunAsync(rest, stdout).ConfigureAwait(false),
                ["bench", "comms-node", .. var rest] => await ProcessBench.RunChildAsync(rest, stdout, stdin).ConfigureAwait(false),
                ["kernel-peer", .. var rest] => await Interop.KernelPeerCommand.RunAsync(rest, stdout).ConfigureAwait(false),
                ["node", .. var rest] => await Node.NodeCommand.RunAsync(rest, stdout).ConfigureAwait(false),
                ["status" or "ls" or "lockdump", .. var rest] => await Node.NodeCommand.AskAsync(args[0], rest, stdout, stderr).ConfigureAwait(false),
                ["member", "add" or "remove", .. var rest] => Node.NodeCommand.Member(args[1], rest, stdout),
                ["wire", "hash", var name] => WireIdCommands.Hash(name, stdout),
                ["wire", "lockspace-id", var name] => WireIdCommands.LockspaceIdOf(name, stdout, stderr),
                [] or ["help"] or ["--help"] or ["-h"] => PrintHelp(stdout),
                _ => UsageError(stderr, $"unknown command: {string.Join(' ', args)}"),
            };
        }
        catch (UsageException e)
        {
            return UsageError(stderr, e.Message);
        }
        catch (Exception e) when (args is ["node", ..] && e is InvalidOperationException or PlatformNotSupportedException)
        {
            // A node that cannot start (an address it cannot serve, a mark it may not set): say why, exit 1.
            await stderr.WriteLineAsync($"dlm node: {e.Message}").ConfigureAwait(false);
            return Failed;
        }
    }

    public static int UsageError(TextWriter stderr, string message)
    {
        stderr.WriteLine($"dlm: {message}");
        stderr.WriteLine("Run 'dlm help' for usage.");
        return Usage;
    }

    private static int PrintHelp(TextWriter stdout)
    {
        stdout.WriteLine(Help);
        return Ok;
    }
}

/// <summary>A command-line mistake; its message says what to type instead.</summary>
internal sealed class UsageException(string message) : Exception(message);
