using Dlm.Protocol;

namespace Dlm.Messaging;

/// <summary>
/// Receives the DLM_MSG and DLM_RCOM messages midcomms delivers, in order per peer, exactly once
/// for sequenced messages. Called on the connection's receive loop: do not block; copy what you
/// keep (the packet's bytes are valid only during the call).
/// </summary>
public interface IMessageHandler
{
    /// <summary>A delivered message from <paramref name="nodeId"/>; <see cref="Packet.Kind"/> is MSG or RCOM.</summary>
    void OnMessage(int nodeId, in Packet packet);
}
