namespace Dlm.Transport;

/// <summary>
/// What the transport tells the layer above (midcomms). Calls for one connection come from that
/// connection's receive loop, one at a time and in arrival order; they must not block.
/// </summary>
public interface ITransportHandler
{
    /// <summary>
    /// Complete messages from <paramref name="nodeId"/>, back to back in arrival order: what one socket
    /// read completed (a message split across reads comes alone, joined). Each is <c>h_length</c> bytes,
    /// 16..4096, as the transport checked when it cut the stream (spec §3.5); <see cref="Protocol.FrameReader.Next"/>
    /// takes them apart. The span is valid only during the call. One call per batch, not per message: the
    /// receive path's fixed costs are paid once per read. An exception escaping the call loses the rest of
    /// the batch (the transport logs it and reads on), so a handler that can fail catches per message.
    /// </summary>
    void OnMessages(int nodeId, ReadOnlySpan<byte> messages);

    /// <summary>A connection to <paramref name="nodeId"/> became usable for sending; retained entries were queued again.</summary>
    void OnConnected(int nodeId, int retransmitted);
}
