using System.Runtime.CompilerServices;

namespace Dlm.Protocol;

/// <summary>DLM_MSG types carried in <c>m_type</c> (spec §1.5.1).</summary>
public enum MessageType
{
    /// <summary>New lock, requester → master; extra = resource name.</summary>
    Request = 1,
    /// <summary>Convert, requester → master; extra = LVB or nothing.</summary>
    Convert = 2,
    /// <summary>Unlock, requester → master; extra = LVB or nothing.</summary>
    Unlock = 3,
    /// <summary>Cancel a pending request or conversion.</summary>
    Cancel = 4,
    /// <summary>Master's answer to REQUEST; extra = LVB or nothing.</summary>
    RequestReply = 5,
    /// <summary>Master's answer to CONVERT; extra = LVB or nothing.</summary>
    ConvertReply = 6,
    /// <summary>Master's answer to UNLOCK.</summary>
    UnlockReply = 7,
    /// <summary>Master's answer to CANCEL.</summary>
    CancelReply = 8,
    /// <summary>Asynchronous grant of a queued request or conversion; extra = LVB or nothing.</summary>
    Grant = 9,
    /// <summary>Blocking callback for a holder.</summary>
    Bast = 10,
    /// <summary>Directory lookup, requester → directory node; extra = resource name.</summary>
    Lookup = 11,
    /// <summary>Master dropped an unused resource; extra = resource name.</summary>
    Remove = 12,
    /// <summary>Directory node's answer to LOOKUP.</summary>
    LookupReply = 13,
    /// <summary>Drop orphaned user-space locks of a pid.</summary>
    Purge = 14,
}

/// <summary>What <c>m_extra</c> holds for a message type (spec §1.5.1).</summary>
public enum MessageExtra
{
    /// <summary>Nothing is expected; bytes present are ignored.</summary>
    None,
    /// <summary>A resource name of 0..64 bytes.</summary>
    Name,
    /// <summary>Nothing or a lock value block of the lockspace's LVB length.</summary>
    ValueBlock,
}

/// <summary>Per-type facts about DLM_MSG.</summary>
public static class MessageTypes
{
    /// <summary>True for types 1..14.</summary>
    public static bool IsDefined(MessageType type) => type is >= MessageType.Request and <= MessageType.Purge;

    /// <summary>What <c>m_extra</c> carries for <paramref name="type"/> (spec §1.5.1, §9.1.1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static MessageExtra ExtraOf(MessageType type) => type switch
    {
        MessageType.Request or MessageType.Lookup or MessageType.Remove => MessageExtra.Name,
        MessageType.Convert or MessageType.Unlock or MessageType.RequestReply
            or MessageType.ConvertReply or MessageType.Grant => MessageExtra.ValueBlock,
        _ => MessageExtra.None,
    };
}
