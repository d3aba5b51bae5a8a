using System.Globalization;
using System.Text;

namespace Dlm.Protocol;

/// <summary>The kernel's names for wire constants, for logs, dumps and the CLI (spec §1.3, §1.5.1, §1.7.1, §4.11, §4.13).</summary>
public static class WireNames
{
    private static readonly string[] LockFlagNames =
    [
        "NOQUEUE", "CANCEL", "CONVERT", "VALBLK", "QUECVT", "IVVALBLK", "CONVDEADLK", "PERSISTENT", "NODLCKWT",
        "NODLCKBLK", "EXPEDITE", "NOQUEUEBAST", "HEADQUE", "NOORDER", "ORPHAN", "ALTPR", "ALTCW", "FORCEUNLOCK", "TIMEOUT",
    ];

    private static readonly string[] StatusBlockFlagNames = ["DEMOTED", "VALNOTVALID", "ALTMODE"];
    private static readonly string[] SharedFlagNames = ["USER", "ORPHAN"];
    private static readonly string[] AstNames = ["COMP", "BAST"];

    /// <summary><c>DLM_MSG</c>, <c>DLM_RCOM</c>, ... or the number.</summary>
    public static string Of(DlmCommand command) => command switch
    {
        DlmCommand.Message => "DLM_MSG",
        DlmCommand.Rcom => "DLM_RCOM",
        DlmCommand.Opts => "DLM_OPTS",
        DlmCommand.Ack => "DLM_ACK",
        DlmCommand.Fin => "DLM_FIN",
        _ => Number((uint)command),
    };

    /// <summary><c>REQUEST</c> ... <c>PURGE</c>, or the number.</summary>
    public static string Of(MessageType type) => type switch
    {
        MessageType.Request => "REQUEST",
        MessageType.Convert => "CONVERT",
        MessageType.Unlock => "UNLOCK",
        MessageType.Cancel => "CANCEL",
        MessageType.RequestReply => "REQUEST_REPLY",
        MessageType.ConvertReply => "CONVERT_REPLY",
        MessageType.UnlockReply => "UNLOCK_REPLY",
        MessageType.CancelReply => "CANCEL_REPLY",
        MessageType.Grant => "GRANT",
        MessageType.Bast => "BAST",
        MessageType.Lookup => "LOOKUP",
        MessageType.Remove => "REMOVE",
        MessageType.LookupReply => "LOOKUP_REPLY",
        MessageType.Purge => "PURGE",
        _ => Number((uint)type),
    };

    /// <summary><c>STATUS</c> ... <c>LOCK_REPLY</c>, or the number.</summary>
    public static string Of(RcomType type) => type switch
    {
        RcomType.Status => "STATUS",
        RcomType.Names => "NAMES",
        RcomType.Lookup => "LOOKUP",
        RcomType.Lock => "LOCK",
        RcomType.StatusReply => "STATUS_REPLY",
        RcomType.NamesReply => "NAMES_REPLY",
        RcomType.LookupReply => "LOOKUP_REPLY",
        RcomType.LockReply => "LOCK_REPLY",
        _ => Number((uint)type),
    };

    /// <summary><c>none</c>, <c>WAITING</c>, <c>GRANTED</c>, <c>CONVERT</c>, or the number.</summary>
    public static string Of(QueueStatus status) => status switch
    {
        QueueStatus.None => "none",
        QueueStatus.Waiting => "WAITING",
        QueueStatus.Granted => "GRANTED",
        QueueStatus.Convert => "CONVERT",
        _ => Number((uint)status),
    };

    /// <summary>"3.1", "3.2" or the hex value.</summary>
    public static string OfVersion(uint version) => version switch
    {
        ProtocolVersion.V31 => "3.1",
        ProtocolVersion.V32 => "3.2",
        _ => "0x" + version.ToString("X8", CultureInfo.InvariantCulture),
    };

    /// <summary>DLM_LKF_* names joined by '|' ("" for none).</summary>
    public static string Of(LockFlags flags) => Bits((uint)flags, LockFlagNames);

    /// <summary>DLM_SBF_* names joined by '|'.</summary>
    public static string Of(StatusBlockFlags flags) => Bits((uint)flags, StatusBlockFlagNames);

    /// <summary>Shared lock flag names joined by '|'.</summary>
    public static string Of(SharedLockFlags flags) => Bits((uint)flags, SharedFlagNames);

    /// <summary>AST bits: COMP, BAST.</summary>
    public static string Of(AstFlags flags) => Bits((uint)flags, AstNames);

    private static string Bits(uint value, string[] names)
    {
        var sb = new StringBuilder();
        for (var bit = 0; bit < 32 && value != 0; bit++)
        {
            var mask = 1u << bit;
            if ((value & mask) == 0)
            {
                continue;
            }

            value &= ~mask;
            sb.Append(sb.Length == 0 ? "" : "|").Append(bit < names.Length ? names[bit] : "0x" + mask.ToString("X", CultureInfo.InvariantCulture));
        }

        return sb.ToString();
    }

    private static string Number(uint value) => value.ToString(CultureInfo.InvariantCulture);
}
