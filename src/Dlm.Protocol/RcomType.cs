namespace Dlm.Protocol;

/// <summary>DLM_RCOM types carried in <c>rc_type</c> (spec §1.7.1).</summary>
public enum RcomType
{
    /// <summary>Recovery status ping; payload <c>rcom_status</c>; stateless.</summary>
    Status = 1,
    /// <summary>Directory dump request; payload = last name received (0..64 bytes).</summary>
    Names = 2,
    /// <summary>Recovery master lookup; payload = resource name.</summary>
    Lookup = 3,
    /// <summary>Lock rebuild on a new master; payload <c>rcom_lock</c> (+ LVB).</summary>
    Lock = 4,
    /// <summary>Answer to STATUS; payload <c>rcom_config</c> (+ slots).</summary>
    StatusReply = 5,
    /// <summary>Answer to NAMES; a full-size block of names.</summary>
    NamesReply = 6,
    /// <summary>Answer to LOOKUP; <c>rc_result</c> = master node id.</summary>
    LookupReply = 7,
    /// <summary>Answer to LOCK; <c>rcom_lock</c> echoed with the new remote id and result.</summary>
    LockReply = 8,
}

/// <summary>Per-type facts about DLM_RCOM.</summary>
public static class RcomTypes
{
    /// <summary>True for types 1..8.</summary>
    public static bool IsDefined(RcomType type) => type is >= RcomType.Status and <= RcomType.LockReply;

    /// <summary>
    /// True for the types a 3.2 receiver accepts unwrapped: STATUS, STATUS_REPLY (stateless) and
    /// NAMES, NAMES_REPLY (plain before 6.6) — spec §2.4 step 5.
    /// </summary>
    public static bool MayArrivePlain(RcomType type) =>
        type is RcomType.Status or RcomType.StatusReply or RcomType.Names or RcomType.NamesReply;

    /// <summary>
    /// True for the stateless types we always send plain (spec §2.3): STATUS and STATUS_REPLY.
    /// The "lockspace not ready" STATUS_REPLY is the exception and is sent wrapped.
    /// </summary>
    public static bool IsStateless(RcomType type) => type is RcomType.Status or RcomType.StatusReply;
}
