using System.Net;
using Dlm.Messaging;
using Dlm.Protocol;
using Dlm.Transport;

namespace Dlm.Messaging.Tests;

/// <summary>
/// N messaging nodes in this process, each on its own loopback address 127.S.T.i with the
/// cluster's single port; S.T is unique per cluster so tests in parallel never collide.
/// </summary>
internal sealed class TestCluster : IAsyncDisposable
{
    public const uint Lockspace = 0x626EE4A9;
    private static int _nextSubnet = 20 * 256;

    private TestCluster(MessagingNode[] nodes, Recorder[] recorders, IPAddress[] addresses)
    {
        Nodes = nodes;
        Recorders = recorders;
        Addresses = addresses;
    }

    public MessagingNode[] Nodes { get; }
    public Recorder[] Recorders { get; }
    public IPAddress[] Addresses { get; }

    public MessagingNode this[int nodeId] => Nodes[nodeId - 1];

    public static IPAddress[] AllocateAddresses(int count)
    {
        var subnet = Interlocked.Increment(ref _nextSubnet);
        return Enumerable.Range(1, count).Select(i => new IPAddress([127, (byte)(subnet >> 8), (byte)subnet, (byte)i])).ToArray();
    }

    public static TestCluster Start(int count, Func<MessagingOptions, MessagingOptions>? configure = null, IPAddress[]? addresses = null)
    {
        addresses ??= AllocateAddresses(count);
        var book = Enumerable.Range(1, count).Select(i => new NodeAddress(i, [addresses[i - 1]])).ToArray();
        var started = Enumerable.Range(1, count).Select(i => StartNode(i, book, configure)).ToArray();
        return new TestCluster(started.Select(s => s.Node).ToArray(), started.Select(s => s.Recorder).ToArray(), addresses);
    }

    /// <summary>
    /// One started node with test timings (50 ms reconnect, 2 s shutdown, FIN and version waits)
    /// that <paramref name="configure"/> may change.
    /// </summary>
    public static (MessagingNode Node, Recorder Recorder) StartNode(int nodeId, IEnumerable<NodeAddress> book,
        Func<MessagingOptions, MessagingOptions>? configure = null)
    {
        var options = new MessagingOptions
        {
            Transport = new TransportOptions
            {
                Addresses = new AddressBook(nodeId, book),
                ReconnectInterval = TimeSpan.FromMilliseconds(50),
                ShutdownTimeout = TimeSpan.FromSeconds(2),
            },
            FinTimeout = TimeSpan.FromSeconds(2),
            VersionWaitTimeout = TimeSpan.FromSeconds(2),
        };
        var recorder = new Recorder(nodeId);
        var node = new MessagingNode(configure?.Invoke(options) ?? options, recorder);
        node.Start();
        return (node, recorder);
    }

    /// <summary>A stateless RCOM STATUS from <paramref name="from"/> to <paramref name="to"/> (version detection, spec §2.8).</summary>
    public static void SendStatus(MessagingNode from, int to) =>
        from.SendRcom(to, Lockspace, new RcomHeader(RcomType.Status, 0, 1, 1, 0), new byte[WireLimits.RcomStatusSize]);

    /// <summary>Every node pings every other with a stateless RCOM STATUS, as recovery does, so versions get detected.</summary>
    public void Ping()
    {
        foreach (var from in Nodes)
        {
            foreach (var to in Nodes.Where(n => n != from))
            {
                SendStatus(from, to.LocalNodeId);
            }
        }
    }

    /// <summary>Makes every node a member of every other's lockspace (users = 1) and connects eagerly.</summary>
    public void JoinAll()
    {
        foreach (var from in Nodes)
        {
            foreach (var to in Nodes.Where(n => n != from))
            {
                from.AddMember(to.LocalNodeId);
            }
        }
    }

    public static DlmMessage Counted(uint counter) => new()
    {
        Type = MessageType.Request,
        LockId = counter,
        GrantedMode = LockMode.Invalid,
        RequestedMode = LockMode.Exclusive,
    };

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }
    }
}
