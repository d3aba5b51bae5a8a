using Dlm.Protocol;

namespace Dlm.Messaging;

/// <summary>
/// Receives the DLM_MSG and DLM_RCOM messages midcomms delivers, in order per peer, exactly once
/// for sequenced messages. Called on the connection's receive loop: do not block; copy what you
/// keep (the packet's bytes are valid only during the call). Closing the sender from here
/// (<see cref="MessagingNode.CloseNodeAsync"/>) drops the rest of the read and completes without
/// waiting for this loop; do not wait here for a close of another node, a shutdown or a dispose,
/// which wait for receive loops, this one among them.
/// </summary>
public interface IMessageHandler
{
    /// <summary>A delivered message from <paramref name="nodeId"/>; <see cref="Packet.Kind"/> is MSG or RCOM.</summary>
    void OnMessage(int nodeId, in Packet packet);
}
