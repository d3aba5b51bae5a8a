namespace Dlm.Messaging;

/// <summary>
/// The effects the pure midcomms state machine asks for; the driver carries them out under the
/// peer's lock, tests record them.
/// </summary>
internal interface IPeerActions
{
    /// <summary>Queue a plain DLM_ACK carrying <paramref name="nextExpected"/>.</summary>
    void SendAck(uint nextExpected);

    /// <summary>
    /// <see cref="SendAck"/> from the receiving thread, which does not hold the peer's lock (the in-order
    /// path's ACK after 256 deliveries, spec §2.5).
    /// </summary>
    void PostAck(uint nextExpected);

    /// <summary>Queue a wrapped DLM_FIN with sequence <paramref name="sequence"/>.</summary>
    void SendFin(uint sequence);

    /// <summary>Drop retained messages acknowledged by ACK(<paramref name="nextExpected"/>).</summary>
    void Release(uint nextExpected);

    /// <summary>Drop every queued message (node reset).</summary>
    void ClearQueue();
}
