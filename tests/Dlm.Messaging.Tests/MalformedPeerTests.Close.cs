namespace Dlm.Messaging.Tests;

public sealed partial class MalformedPeerTests
{
    // spec §2.9 last row: a node closed by configuration starts again from a clean state. A message its old
    // socket delivers once the reset is done belongs to the sequence space that ended; taken in, it would set
    // the peer's version again, and a message sent meanwhile would use up sequence number 0 of the next
    // incarnation and then be dropped with the old socket's queue.
    [Fact]
    public async Task CloseNode_OldSocketDeliversAfterTheReset_NothingOfItTakenIn()
    {
        await using var peer = await EstablishedAsync(); // STATUS and seq 0 delivered: version 3.2, seq_next 1
        var (node, recorder, raw) = (peer.Node, peer.Recorder, peer.Raw);

        Task close;
        using (node.PeerFor(RawNode).ReceiveLock.EnterScope()) // node 1's receive thread cannot hand anything over meanwhile
        {
            raw.Send(Wire.Wrapped(1, 1)); // the old socket's next message: read, then handed over after the reset
            close = node.CloseNodeAsync(RawNode); // the reset runs now, under the lock this thread holds (it is reentrant)
        }

        await close.WaitAsync(Timeout);

        var stats = node.GetStatistics(RawNode);
        Assert.Equal((PeerState.Closed, 0u, 0u, 0u, 0), (stats.State, stats.Version, stats.SeqNext, stats.SeqSend, stats.QueuedMessages));
        Assert.Equal(1u, recorder.ReceivedFrom(RawNode));

        // The node's next incarnation starts at sequence number 0 and is heard.
        using var next = await RawPeer.ConnectAsync(raw.LocalAddress, raw.RemoteAddress);
        await next.SendAsync(Wire.Status(), Wire.Wrapped(0, 1));
        await recorder.WaitForAsync(RawNode, 2, Timeout);
        Assert.Empty(recorder.Violations);
        Assert.Equal((PeerState.Established, 1u), (node.GetStatistics(RawNode).State, node.GetStatistics(RawNode).SeqNext));
    }

    // A handler that closes the sender while handling one of its messages: the rest of that read belongs to the
    // sequence space that ended and is dropped, and the close does not wait for the handler's own receive loop.
    // Before, the rest of the read met the reset state (a wrapped message set the peer's version again), and a
    // handler that waited for the close waited for itself.
    [Fact]
    public async Task CloseNode_FromTheHandlerMidRead_RestOfTheReadDropped_NoWaitForItself()
    {
        await using var peer = await EstablishedAsync(); // STATUS and seq 0 delivered: version 3.2, seq_next 1
        var (node, recorder, raw) = (peer.Node, peer.Recorder, peer.Raw);
        var closed = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        recorder.Counted = (_, counter) =>
        {
            if (counter == 1)
            {
                closed.TrySetResult(node.CloseNodeAsync(RawNode).Wait(Timeout));
            }
        };

        raw.Send([.. Wire.Wrapped(1, 1), .. Wire.Wrapped(2, 2), .. Wire.Wrapped(3, 3)]); // one write, one read: one hand-over

        Assert.True(await closed.Task.WaitAsync(Timeout * 2), "the close waited for the handler's own receive loop");
        var stats = node.GetStatistics(RawNode);
        Assert.Equal((PeerState.Closed, 0u, 0u, 0u, 0), (stats.State, stats.Version, stats.SeqNext, stats.SeqSend, stats.QueuedMessages));
        Assert.Equal(2u, recorder.ReceivedFrom(RawNode)); // counters 0 and 1; not 2 or 3
        Assert.Empty(recorder.Violations);
    }
}
