using System.Net;
using Dlm.Messaging;
using Dlm.Transport;

namespace Dlm.Tests;

/// <summary>
/// Close by configuration is per node, not per lockspace (spec §2.9 last row, §2.12): each incarnation of a
/// peer is closed once, however many lockspaces' views show its end, and each lockspace's count stays its own.
/// The messaging node is never started: its statistics show the closes (<c>Resets</c>) and the count (<c>Users</c>).
/// </summary>
public sealed class PeerIncarnationsTests
{
    private const int Peer = 2;

    [Fact]
    public async Task NewIncarnation_SeenByTwoLockspaces_ClosedOnceAndCountedInBoth()
    {
        await using var node = Node();
        using var incarnations = new PeerIncarnations(node);
        Assert.True(await incarnations.AddAsync(Peer, 1)); // lockspace A
        Assert.True(await incarnations.AddAsync(Peer, 1)); // lockspace B
        Assert.Equal((2, 0L), Count(node));

        // Lockspace A's view shows the node back as incarnation 2: the old sequence space ends here.
        await incarnations.RemoveAsync(Peer, 1, failed: false);
        Assert.True(await incarnations.AddAsync(Peer, 2));
        Assert.Equal((1, 1L), Count(node));

        // Lockspace B's view shows the same change later: no second close of the new incarnation's live
        // state, and B's old count went with the close.
        await incarnations.RemoveAsync(Peer, 1, failed: false);
        Assert.True(await incarnations.AddAsync(Peer, 2));
        Assert.Equal((2, 1L), Count(node));
    }

    [Fact]
    public async Task Failure_SeenByTwoLockspaces_ClosedOnce_AStaleViewDoesNotAddTheDeadIncarnationBack()
    {
        await using var node = Node();
        using var incarnations = new PeerIncarnations(node);
        await incarnations.AddAsync(Peer, 1);
        await incarnations.AddAsync(Peer, 1);

        await incarnations.RemoveAsync(Peer, 1, failed: true); // A sees the failure
        Assert.Equal((0, 1L), Count(node));
        Assert.True(await incarnations.AddAsync(Peer, 2)); // the node restarts and joins A
        await incarnations.RemoveAsync(Peer, 1, failed: true); // B sees the failure late
        Assert.False(await incarnations.AddAsync(Peer, 1)); // a stale view of B still listing it
        Assert.Equal((1, 1L), Count(node));

        Assert.True(await incarnations.AddAsync(Peer, 2)); // B catches up
        Assert.Equal((2, 1L), Count(node));
    }

    [Fact]
    public async Task CleanLeaveThenCrashAndRejoin_ClosedBeforeTheNewIncarnationIsAdded()
    {
        // spec §2.12: without the close, the restarted node's messages would look like duplicates for good.
        await using var node = Node();
        using var incarnations = new PeerIncarnations(node);
        await incarnations.AddAsync(Peer, 1);
        await incarnations.RemoveAsync(Peer, 1, failed: false); // left its last lockspace with us cleanly
        Assert.Equal((0, 0L), Count(node));

        Assert.True(await incarnations.AddAsync(Peer, 7)); // it crashed later and came back
        Assert.Equal((1, 1L), Count(node));
    }

    private static (int Users, long Resets) Count(MessagingNode node)
    {
        var stats = node.GetStatistics(Peer);
        return (stats.Users, stats.Resets);
    }

    private static MessagingNode Node()
    {
        var book = new[] { new NodeAddress(1, [IPAddress.Parse("127.228.0.1")]), new NodeAddress(Peer, [IPAddress.Parse("127.228.0.2")]) };
        return new MessagingNode(new MessagingOptions { Transport = new TransportOptions { Addresses = new AddressBook(1, book) } }, new NullHandler());
    }

    private sealed class NullHandler : IMessageHandler
    {
        public void OnMessage(int nodeId, in Dlm.Protocol.Packet packet)
        {
        }
    }
}
