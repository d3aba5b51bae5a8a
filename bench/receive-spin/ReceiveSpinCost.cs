// What the receive threads' spin (TransportOptions.ReceiveSpinTime) costs a lightly loaded node.
// One node sends a message to each of its peers per tick (the timer's resolution, about 4 ms here),
// so every peer's receive thread wakes for each message and then spins before it sleeps. Rounds with
// the spin alternate with rounds without it (the baseline, same run); the process's CPU is compared.
// Run: dotnet run bench/receive-spin/ReceiveSpinCost.cs -- [peers] [seconds per round] [rounds] [spin µs]
#:project ../../src/Dlm.Messaging/Dlm.Messaging.csproj
#:property TieredCompilation=false
using System.Diagnostics;
using System.Net;
using Dlm.Messaging;
using Dlm.Protocol;
using Dlm.Transport;

var peers = args.Length > 0 ? int.Parse(args[0]) : 32;
var seconds = args.Length > 1 ? int.Parse(args[1]) : 4;
var rounds = args.Length > 2 ? int.Parse(args[2]) : 2;
var spinUs = args.Length > 3 ? int.Parse(args[3]) : 50;
var results = new Dictionary<int, List<double>> { [0] = [], [spinUs] = [] };
for (var round = 0; round < rounds; round++)
{
    foreach (var spin in new[] { 0, spinUs })
    {
        var (rate, cpuShare) = await RunAsync(peers, spin, seconds, round).ConfigureAwait(false);
        results[spin].Add(cpuShare);
        Console.WriteLine($"round {round + 1}, spin {spin,3} µs: {rate,6:F0} msgs/s, CPU {cpuShare * 100,5:F1} % of a core, {cpuShare * 1e6 / rate,5:F1} µs per message");
    }
}

var extra = results[spinUs].Average() - results[0].Average();
Console.WriteLine($"{peers} peers: the {spinUs} µs spin costs {extra * 100:F1} % of a core on average ({results[spinUs].Average() / results[0].Average():F2}x the CPU without it)");

static async Task<(double Rate, double CpuShare)> RunAsync(int peers, int spinUs, int seconds, int round)
{
    var n = peers + 1;
    var addresses = Enumerable.Range(1, n).Select(i => IPAddress.Parse($"127.78.{(round * 2) + (spinUs == 0 ? 0 : 1)}.{i}")).ToArray();
    var book = Enumerable.Range(1, n).Select(i => new NodeAddress(i, [addresses[i - 1]])).ToList();
    var handlers = Enumerable.Range(1, n).Select(i => new Handler(i == 1 ? peers : 1)).ToArray(); // STATUS messages each node expects
    var nodes = Enumerable.Range(1, n).Select(i => new MessagingNode(
        new MessagingOptions { Transport = new TransportOptions { Addresses = new AddressBook(i, book), ReceiveSpinTime = TimeSpan.FromMicroseconds(spinUs) } },
        handlers[i - 1])).ToArray();
    try
    {
        foreach (var node in nodes)
        {
            node.Start();
        }

        // Node 1 and each peer: membership, then the STATUS exchange that detects the version (spec §2.8).
        var status = new byte[WireLimits.RcomStatusSize];
        for (var i = 2; i <= n; i++)
        {
            nodes[0].AddMember(i);
            nodes[i - 1].AddMember(1);
            nodes[0].SendRcom(i, 1, new RcomHeader(RcomType.Status, 0, 1, 1, 0), status);
            nodes[i - 1].SendRcom(1, 1, new RcomHeader(RcomType.Status, 0, 1, 1, 0), status);
        }

        await Task.WhenAll(handlers.Select(h => h.Detected)).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        var message = new DlmMessage { Type = MessageType.Request, RequestedMode = LockMode.Exclusive, GrantedMode = LockMode.Invalid };
        var cpuBefore = Environment.CpuUsage.TotalTime;
        var stopwatch = Stopwatch.StartNew();
        long sent = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(1));
        while (stopwatch.Elapsed.TotalSeconds < seconds && await timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            for (var i = 2; i <= n; i++)
            {
                message.LockId = (uint)sent++;
                nodes[0].SendMessage(i, 1, message, "spin"u8);
            }
        }

        var cpu = Environment.CpuUsage.TotalTime - cpuBefore;
        var elapsed = stopwatch.Elapsed;
        return (sent / elapsed.TotalSeconds, cpu / elapsed);
    }
    finally
    {
        foreach (var node in nodes)
        {
            await node.DisposeAsync().ConfigureAwait(false);
        }
    }
}

// Completes Detected once the expected number of STATUS messages (RCOM) has arrived.
internal sealed class Handler(int expected) : IMessageHandler
{
    private readonly TaskCompletionSource _detected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _statuses;

    public Task Detected => _detected.Task;

    public void OnMessage(int nodeId, in Packet packet)
    {
        if (packet.Kind == DlmCommand.Rcom && Interlocked.Increment(ref _statuses) == expected)
        {
            _detected.TrySetResult();
        }
    }
}
