namespace Dlm.Protocol.Tests;

/// <summary>
/// <see cref="PacketDecoder.TryDecodeWrappedMessage"/>, the receive path's one-pass decoder: it takes the
/// wrapped DLM_MSG without options and leaves everything else, valid or not, to the general path.
/// (<see cref="FuzzTests"/> checks it against the general path on every fuzzed input.)
/// </summary>
public sealed class WrappedMessageFastPathTests
{
    private static readonly DlmMessage Request = new()
    {
        Type = MessageType.Request, LockId = 5, GrantedMode = LockMode.Invalid, RequestedMode = LockMode.Exclusive,
    };

    [Fact]
    public void WrappedMessage_AcceptedAsTheSamePacketAsTheGeneralPath()
    {
        var bytes = Wrapped(Request);

        Assert.True(PacketDecoder.TryDecodeWrappedMessage(bytes, out var fast));
        Assert.True(PacketDecoder.TryDecode(bytes, out var general, out _));
        Assert.True(fast.Bytes == general.Bytes && fast.InnerBytes == general.InnerBytes);
        Assert.Equal(9u, fast.Header.Sequence);
        Assert.Equal(5u, fast.Message.LockId);
    }

    [Fact]
    public void OtherShapes_LeftToTheGeneralPath()
    {
        var plain = new byte[WireLimits.MaxMessageLength];
        var plainLength = PacketWriter.WriteMessage(plain, 1, 2, Request, "r"u8);
        var rcom = new byte[WireLimits.MaxMessageLength];
        var rcomLength = PacketWriter.WriteWrappedRcom(rcom, 9, 1, 2, new RcomHeader(RcomType.Status, 0, 1, 1, 0), new byte[WireLimits.RcomStatusSize]);
        var badMode = Wrapped(Request with { RequestedMode = (LockMode)9 }); // a sound envelope around bad contents

        Assert.False(PacketDecoder.TryDecodeWrappedMessage(plain.AsSpan(0, plainLength), out _));
        Assert.False(PacketDecoder.TryDecodeWrappedMessage(rcom.AsSpan(0, rcomLength), out _));
        Assert.False(PacketDecoder.TryDecodeWrappedMessage(badMode, out _));
        Assert.True(PacketDecoder.TryDecodeFrame(badMode, out var frame, out _)); // consumes its sequence number
        Assert.False(PacketDecoder.TryValidateBody(frame, out var error));
        Assert.Equal(ProtocolErrorCode.InvalidMode, error.Code);
        Assert.False(PacketDecoder.TryDecodeWrappedMessage(Wrapped(Request).AsSpan()[..^1], out _)); // truncated
    }

    private static byte[] Wrapped(DlmMessage message)
    {
        var bytes = new byte[WireLimits.MaxMessageLength];
        var length = PacketWriter.WriteWrappedMessage(bytes, 9, 1, 2, message, "r"u8);
        return bytes[..length];
    }
}
