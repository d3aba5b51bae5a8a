namespace Dlm.Protocol;

/// <summary>Sizes and limits of the wire format (spec §1.10).</summary>
public static class WireLimits
{
    /// <summary><c>sizeof(dlm_header)</c>; also the smallest valid <c>h_length</c>.</summary>
    public const int HeaderSize = 16;
    /// <summary><c>sizeof(dlm_message)</c> without <c>m_extra</c>.</summary>
    public const int MessageSize = 88;
    /// <summary><c>sizeof(dlm_rcom)</c> without <c>rc_buf</c>.</summary>
    public const int RcomSize = 48;
    /// <summary><c>sizeof(dlm_opts)</c> without options and inner message.</summary>
    public const int OptsSize = 24;
    /// <summary><c>sizeof(rcom_status)</c>.</summary>
    public const int RcomStatusSize = 16;
    /// <summary><c>sizeof(rcom_config)</c>.</summary>
    public const int RcomConfigSize = 32;
    /// <summary><c>sizeof(rcom_slot)</c>.</summary>
    public const int RcomSlotSize = 16;
    /// <summary><c>sizeof(rcom_lock)</c> without the LVB.</summary>
    public const int RcomLockSize = 108;
    /// <summary><c>DLM_MAX_SOCKET_BUFSIZE</c>: largest <c>h_length</c> of any wire message.</summary>
    public const int MaxMessageLength = 4096;
    /// <summary><c>DLM_MAX_APP_BUFSIZE</c>: largest inner (application) message, 4096 − 24.</summary>
    public const int MaxAppMessageLength = MaxMessageLength - OptsSize;
    /// <summary><c>DLM_RESNAME_MAXLEN</c>.</summary>
    public const int MaxResourceNameLength = 64;
    /// <summary><c>DLM_LOCKSPACE_LEN</c>: longest lockspace name.</summary>
    public const int MaxLockspaceNameLength = 64;
    /// <summary>Capacity of a NAMES_REPLY payload: 4072 − 48.</summary>
    public const int NamesReplyCapacity = MaxAppMessageLength - RcomSize;
    /// <summary>Largest LVB an rcom_lock can carry inside one application message.</summary>
    public const int MaxValueBlockLength = MaxAppMessageLength - RcomSize - RcomLockSize;
    /// <summary>Most <c>rcom_slot</c> entries a STATUS_REPLY can hold: (4072 − 48 − 32) / 16.</summary>
    public const int MaxSlots = (MaxAppMessageLength - RcomSize - RcomConfigSize) / RcomSlotSize;
    /// <summary><c>DLM_MAX_ADDR_COUNT</c>: addresses per node.</summary>
    public const int MaxAddressesPerNode = 3;
    /// <summary>The cluster's TCP port by default.</summary>
    public const int DefaultPort = 21064;

    /// <summary>True if <paramref name="length"/> is a valid LVB length: a multiple of 8 (0 allowed, spec §9.1).</summary>
    public static bool IsValidValueBlockLength(int length) =>
        length >= 0 && length <= MaxValueBlockLength && (length & 7) == 0;
}
