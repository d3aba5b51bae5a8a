namespace Dlm.Protocol.Tests;

/// <summary>Golden wire bytes shared by the tests.</summary>
internal static class Vectors
{
    /// <summary>spec §1.12: node 1 → node 2, "mylockspace", seq 5, REQUEST "foo" in EX, lkid 1, pid 1234, asts 3.</summary>
    public static readonly byte[] WorkedExample = Hex(
        """
        02 00 03 00 05 00 00 00 01 00 00 00 73 00 03 00
        01 00 00 00 00 00 00 00
                                02 00 03 00 a9 e4 6e 62
        01 00 00 00 5b 00 01 00
                                01 00 00 00 02 00 00 00
        d2 04 00 00 01 00 00 00 00 00 00 00 00 00 00 00
        00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
        00 00 00 00 96 68 8f e1 00 00 00 00 ff ff ff ff
        05 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00
        66 6f 6f
        """);

    /// <summary>spec §1.12: the ACK node 2 sends for it (next expected 6).</summary>
    public static readonly byte[] WorkedExampleAck = Hex("02 00 03 00 06 00 00 00 02 00 00 00 10 00 04 00");

    public const uint MyLockspace = 0x626EE4A9;

    /// <summary>The message fields of the worked example.</summary>
    public static DlmMessage WorkedExampleMessage => new()
    {
        Type = MessageType.Request,
        NodeId = 2,
        Pid = 1234,
        LockId = 1,
        Hash = 0xE18F6896,
        GrantedMode = LockMode.Invalid,
        RequestedMode = LockMode.Exclusive,
        BastMode = LockMode.Null,
        Asts = AstFlags.Completion | AstFlags.Blocking,
    };

    public static byte[] Hex(string text) => Convert.FromHexString(string.Concat(text.Where(Uri.IsHexDigit)));
}
