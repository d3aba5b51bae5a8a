namespace Dlm.Protocol;

/// <summary>Header version constants (spec §1.4).</summary>
public static class ProtocolVersion
{
    /// <summary><c>DLM_VERSION_3_1</c>: kernels up to 5.13, no midcomms reliability layer.</summary>
    public const uint V31 = 0x0003_0001;

    /// <summary><c>DLM_VERSION_3_2</c>: kernels from 5.14; every header we emit carries it (spec §1.4).</summary>
    public const uint V32 = 0x0003_0002;

    /// <summary>Mask of the major part, compared by recovery (STATUS_REPLY config check).</summary>
    public const uint MajorMask = 0xFFFF_0000;

    /// <summary>The major part shared by 3.1 and 3.2.</summary>
    public const uint Major3 = 0x0003_0000;

    /// <summary><c>DLM_HEADER_SLOTS</c>: a minor version of at least 1 means the peer understands slots.</summary>
    public const uint HeaderSlots = 0x0000_0001;

    /// <summary>True for the two versions a receiver accepts; anything else is skipped by length (spec §2.4 step 2).</summary>
    public static bool IsSupported(uint version) => version is V31 or V32;
}
