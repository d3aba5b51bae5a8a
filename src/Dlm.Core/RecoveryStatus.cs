namespace Dlm.Core;

/// <summary>Recovery status bits (spec §5.4): <c>rc_result</c> of STATUS_REPLY.</summary>
[Flags]
public enum RecoveryStatus : uint
{
    /// <summary>Nothing yet (after a stop).</summary>
    None = 0,
    /// <summary>Members updated.</summary>
    Nodes = 0x01,
    /// <summary>Every member has NODES (set by the low node).</summary>
    NodesAll = 0x02,
    /// <summary>Directory rebuilt.</summary>
    Dir = 0x04,
    /// <summary>Every member has DIR.</summary>
    DirAll = 0x08,
    /// <summary>Locks rebuilt.</summary>
    Locks = 0x10,
    /// <summary>Every member has LOCKS.</summary>
    LocksAll = 0x20,
    /// <summary>Recovery done.</summary>
    Done = 0x40,
    /// <summary>Every member is done.</summary>
    DoneAll = 0x80,
}
