namespace Dlm.Protocol;

/// <summary>Why a message was rejected. Every rejection is a drop of that one message (spec §2.4).</summary>
public enum ProtocolErrorCode
{
    /// <summary>No error.</summary>
    None = 0,
    /// <summary>Fewer bytes than the structure needs.</summary>
    Truncated,
    /// <summary><c>h_length</c> below 16 or above 4096: a framing error that ends the connection (spec §3.5).</summary>
    LengthOutOfRange,
    /// <summary><c>h_version</c> is neither 3.1 nor 3.2: skip the message by its length (spec §2.4 step 2).</summary>
    UnsupportedVersion,
    /// <summary><c>h_cmd</c> is not 1..5.</summary>
    UnknownCommand,
    /// <summary><c>h_nodeid</c> is 0 or negative; node ids are positive (spec §1.11).</summary>
    InvalidNodeId,
    /// <summary>DLM_MSG shorter than 88 bytes.</summary>
    MessageTooShort,
    /// <summary><c>m_type</c> is not 1..14.</summary>
    UnknownMessageType,
    /// <summary>A mode field outside IV..EX.</summary>
    InvalidMode,
    /// <summary>A resource name longer than 64 bytes (spec §4.20).</summary>
    NameTooLong,
    /// <summary>An LVB whose length is not a multiple of 8 (spec §1.10).</summary>
    InvalidValueBlockLength,
    /// <summary>DLM_RCOM shorter than 48 bytes.</summary>
    RcomTooShort,
    /// <summary><c>rc_type</c> is not 1..8.</summary>
    UnknownRcomType,
    /// <summary>An RCOM payload shorter than its structure.</summary>
    PayloadTooShort,
    /// <summary><c>rf_num_slots</c> needs more bytes than the message has.</summary>
    TooManySlots,
    /// <summary>A NAMES_REPLY record with a bad length or no terminator (spec §1.7.4).</summary>
    InvalidNamesRecord,
    /// <summary>DLM_OPTS shorter than 24 bytes, or <c>o_optlen</c> past the end (spec §2.4).</summary>
    InvalidOptsLength,
    /// <summary><c>o_nextcmd</c> is not MSG, RCOM or FIN (spec §2.4).</summary>
    InvalidNextCommand,
    /// <summary>The inner message is too short for its command (16 FIN, 88 MSG, 48 RCOM; spec §2.4).</summary>
    InnerTooShort,
    /// <summary>The inner <c>h_cmd</c> differs from <c>o_nextcmd</c>.</summary>
    InnerCommandMismatch,
    /// <summary>The inner <c>h_length</c> does not fill the envelope exactly.</summary>
    InnerLengthMismatch,
}

/// <summary>A typed decoding error: what was wrong and at which byte offset of the message.</summary>
/// <param name="Code">What was wrong.</param>
/// <param name="Offset">Offset of the offending field, from the start of the message.</param>
public readonly record struct ProtocolError(ProtocolErrorCode Code, int Offset)
{
    /// <summary>True if the connection must be closed (a framing error), false if only this message is dropped.</summary>
    public bool IsFatalToConnection => Code is ProtocolErrorCode.LengthOutOfRange;

    /// <summary>A sentence for logs and the CLI.</summary>
    public string Describe() => Code switch
    {
        ProtocolErrorCode.None => "no error",
        ProtocolErrorCode.Truncated => "message is truncated",
        ProtocolErrorCode.LengthOutOfRange => "h_length outside 16..4096 (framing error)",
        ProtocolErrorCode.UnsupportedVersion => "h_version is neither 3.1 nor 3.2",
        ProtocolErrorCode.UnknownCommand => "h_cmd is not 1..5",
        ProtocolErrorCode.InvalidNodeId => "h_nodeid is not a positive node id",
        ProtocolErrorCode.MessageTooShort => "DLM_MSG shorter than 88 bytes",
        ProtocolErrorCode.UnknownMessageType => "m_type is not 1..14",
        ProtocolErrorCode.InvalidMode => "mode outside IV..EX",
        ProtocolErrorCode.NameTooLong => "resource name longer than 64 bytes",
        ProtocolErrorCode.InvalidValueBlockLength => "LVB length is not a multiple of 8",
        ProtocolErrorCode.RcomTooShort => "DLM_RCOM shorter than 48 bytes",
        ProtocolErrorCode.UnknownRcomType => "rc_type is not 1..8",
        ProtocolErrorCode.PayloadTooShort => "RCOM payload shorter than its structure",
        ProtocolErrorCode.TooManySlots => "rf_num_slots exceeds the message",
        ProtocolErrorCode.InvalidNamesRecord => "NAMES_REPLY record invalid or unterminated",
        ProtocolErrorCode.InvalidOptsLength => "DLM_OPTS shorter than 24 bytes or o_optlen past the end",
        ProtocolErrorCode.InvalidNextCommand => "o_nextcmd is not MSG, RCOM or FIN",
        ProtocolErrorCode.InnerTooShort => "inner message too short for its command",
        ProtocolErrorCode.InnerCommandMismatch => "inner h_cmd differs from o_nextcmd",
        ProtocolErrorCode.InnerLengthMismatch => "inner h_length does not match the envelope",
        _ => Code.ToString(),
    };

    /// <inheritdoc/>
    public override string ToString() => $"{Describe()} (offset {Offset})";
}
