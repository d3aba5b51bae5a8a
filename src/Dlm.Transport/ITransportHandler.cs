namespace Dlm.Transport;

/// <summary>
/// What the transport tells the layer above (midcomms). Calls for one connection come from that
/// connection's receive loop, one at a time and in arrival order; they must not block.
/// </summary>
public interface ITransportHandler
{
    /// <summary>One complete message of <c>h_length</c> bytes (16..4096) from <paramref name="nodeId"/>. The span is valid only during the call.</summary>
    void OnMessage(int nodeId, ReadOnlySpan<byte> message);

    /// <summary>A socket read produced complete messages; <see cref="OnMessage"/> calls follow, then <see cref="OnReceiveBatchEnd"/>, on this thread.</summary>
    void OnReceiveBatchStart(int nodeId);

    /// <summary>The messages of one socket read were all delivered (a natural point to flush acknowledgements).</summary>
    void OnReceiveBatchEnd(int nodeId);

    /// <summary>A connection to <paramref name="nodeId"/> became usable for sending; retained entries were queued again.</summary>
    void OnConnected(int nodeId, int retransmitted);
}
