using Dlm.Protocol;

namespace Dlm.Messaging.Tests;

/// <summary>
/// The lock-free in-order receive path (<see cref="PeerProtocol.TryAcceptInOrder"/>) against the full
/// receive rules (spec §2.4–§2.5): whatever it accepts ends in exactly the state <see cref="PeerProtocol.OnReceive"/>
/// reaches, with the same effect (an ACK, posted instead of sent); whatever it declines it leaves untouched.
/// </summary>
public sealed partial class PeerProtocolTests
{
    public static TheoryData<string, uint> InOrderCases => new()
    {
        { "wrapped message, next sequence", 0 },
        { "wrapped message, next sequence, ACK due after it", 256 },
        { "wrapped message, duplicate", 0 },
        { "wrapped message, gap", 0 },
        { "wrapped message, wrong inner node", 0 },
        { "wrapped stateful RCOM, next sequence", 0 },
        { "FIN, next sequence", 0 },
        { "ACK", 0 },
        { "plain message", 0 },
        { "plain STATUS", 0 },
        { "3.1 message", 0 },
    };

    [Theory]
    [MemberData(nameof(InOrderCases))]
    public void TryAcceptInOrder_AcceptsOnlyWhatOnReceiveDelivers_WithTheSameState(string kind, uint delivered)
    {
        var (fastActions, slowActions) = (new RecordingActions(), new RecordingActions());
        var (fast, slow) = (Established(fastActions, users: 1), Established(slowActions, users: 1));
        foreach (var (p, a) in new[] { (fast, fastActions), (slow, slowActions) })
        {
            for (uint seq = 0; seq < 3; seq++)
            {
                Assert.Equal(ReceiveVerdict.Deliver, Receive(p, PeerPackets.WrappedMessage(seq), a)); // SeqNext = 3
            }

            ForceProperty(p, nameof(PeerProtocol.UlpDelivered), (int)delivered);
            a.Calls.Clear();
        }

        var bytes = kind switch
        {
            "wrapped message, next sequence" or "wrapped message, next sequence, ACK due after it" => PeerPackets.WrappedMessage(3),
            "wrapped message, duplicate" => PeerPackets.WrappedMessage(2),
            "wrapped message, gap" => PeerPackets.WrappedMessage(4),
            "wrapped message, wrong inner node" => PeerPackets.WrappedMessage(3, innerNode: PeerPackets.PeerNode + 1),
            "wrapped stateful RCOM, next sequence" => PeerPackets.WrappedRcom(3, RcomType.Names),
            "FIN, next sequence" => PeerPackets.Fin(3),
            "ACK" => PeerPackets.Ack(1),
            "plain message" => PeerPackets.Message(),
            "plain STATUS" => PeerPackets.Rcom(RcomType.Status),
            "3.1 message" => PeerPackets.Message(version: ProtocolVersion.V31),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
        };
        var before = Snapshot(fast);

        var accepted = fast.TryAcceptInOrder(PacketDecoder.Decode(bytes), fastActions);
        var verdict = Receive(slow, bytes, slowActions);

        if (accepted)
        {
            Assert.Equal(ReceiveVerdict.Deliver, verdict);
            Assert.Equal(slowActions.Calls.Select(c => c.Replace("SendAck", "PostAck", StringComparison.Ordinal)), fastActions.Calls);
            Assert.Equal(Snapshot(slow), Snapshot(fast));
        }
        else
        {
            Assert.Empty(fastActions.Calls);
            Assert.Equal(before, Snapshot(fast));
        }

        var expectAccepted = kind is "wrapped message, next sequence" or "wrapped message, next sequence, ACK due after it" or "wrapped stateful RCOM, next sequence";
        Assert.Equal(expectAccepted, accepted);
        Assert.Equal(kind == "wrapped message, next sequence, ACK due after it" ? ["PostAck(4)"] : Array.Empty<string>(), fastActions.Calls);
    }

    private static (uint Version, PeerState State, uint SeqNext, int UlpDelivered, long Delivered, long Dropped, long AcksSent) Snapshot(PeerProtocol p) =>
        (p.Version, p.State, p.SeqNext, p.UlpDelivered, p.Delivered, p.Dropped, p.AcksSent);
}
