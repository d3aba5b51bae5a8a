using System.Text.Json;
using Dlm.Protocol;

namespace Dlm.Cli;

/// <summary>Writes a decoded message as JSON with the spec's field names (spec §1.2–§1.9).</summary>
internal static class PacketJson
{
    public static void Write(Utf8JsonWriter w, long offset, in Packet p)
    {
        w.WriteStartObject();
        w.WriteNumber("offset", offset);
        w.WriteBoolean("valid", true);
        WriteHeader(w, p.Header);
        if (p.IsWrapped)
        {
            w.WriteNumber("o_nextcmd", (byte)p.Opts.NextCommand);
            w.WriteString("o_nextcmd_name", WireNames.Of(p.Opts.NextCommand));
            w.WriteNumber("o_optlen", p.Opts.OptionsLength);
            if (!p.Options.IsEmpty)
            {
                w.WriteString("o_opts", Convert.ToHexStringLower(p.Options));
            }

            w.WriteStartObject("inner");
            WriteHeader(w, p.Inner);
            WriteBody(w, p);
            w.WriteEndObject();
        }
        else
        {
            WriteBody(w, p);
        }

        w.WriteEndObject();
    }

    public static void WriteError(Utf8JsonWriter w, long offset, ProtocolError error, int length)
    {
        w.WriteStartObject();
        w.WriteNumber("offset", offset);
        w.WriteBoolean("valid", false);
        w.WriteString("error", error.Code.ToString());
        w.WriteString("message", error.Describe());
        w.WriteNumber("error_offset", offset + error.Offset);
        if (length > 0)
        {
            w.WriteNumber("h_length", length);
        }

        w.WriteEndObject();
    }

    private static void WriteHeader(Utf8JsonWriter w, DlmHeader h)
    {
        w.WriteNumber("h_version", h.Version);
        w.WriteString("h_version_name", WireNames.OfVersion(h.Version));
        w.WriteNumber(h.Command is DlmCommand.Opts or DlmCommand.Ack ? "h_seq" : "h_lockspace", h.LockspaceOrSeq);
        if (h.Command is DlmCommand.Message or DlmCommand.Rcom)
        {
            w.WriteString("h_lockspace_hex", WireIdCommands.Format(h.LockspaceOrSeq));
        }

        w.WriteNumber("h_nodeid", h.NodeId);
        w.WriteNumber("h_length", h.Length);
        w.WriteNumber("h_cmd", (byte)h.Command);
        w.WriteString("h_cmd_name", WireNames.Of(h.Command));
    }

    private static void WriteBody(Utf8JsonWriter w, in Packet p)
    {
        switch (p.Kind)
        {
            case DlmCommand.Message:
                WriteMessage(w, p.Message, p.Extra);
                break;
            case DlmCommand.Rcom:
                RcomJson.Write(w, p.Rcom, p.Extra);
                break;
        }
    }

    private static void WriteMessage(Utf8JsonWriter w, in DlmMessage m, ReadOnlySpan<byte> extra)
    {
        w.WriteNumber("m_type", (int)m.Type);
        w.WriteString("m_type_name", WireNames.Of(m.Type));
        w.WriteNumber("m_nodeid", m.NodeId);
        w.WriteNumber("m_pid", m.Pid);
        w.WriteNumber("m_lkid", m.LockId);
        w.WriteNumber("m_remid", m.RemoteId);
        w.WriteNumber("m_parent_lkid", m.ParentLockId);
        w.WriteNumber("m_parent_remid", m.ParentRemoteId);
        Flags(w, "m_exflags", (uint)m.ExFlags, WireNames.Of(m.ExFlags));
        Flags(w, "m_sbflags", (uint)m.SbFlags, WireNames.Of(m.SbFlags));
        Flags(w, "m_flags", (uint)m.Flags, WireNames.Of(m.Flags));
        w.WriteNumber("m_lvbseq", m.LvbSeq);
        w.WriteNumber("m_hash", m.Hash);
        w.WriteString("m_hash_hex", WireIdCommands.Format(m.Hash));
        w.WriteNumber("m_status", (int)m.Status);
        w.WriteString("m_status_name", WireNames.Of(m.Status));
        Mode(w, "m_grmode", m.GrantedMode);
        Mode(w, "m_rqmode", m.RequestedMode);
        Mode(w, "m_bastmode", m.BastMode);
        Flags(w, "m_asts", (uint)m.Asts, WireNames.Of(m.Asts));
        Result(w, "m_result", m.Result);
        switch (MessageTypes.ExtraOf(m.Type))
        {
            case MessageExtra.Name:
                Name(w, "m_name", extra);
                break;
            case MessageExtra.ValueBlock when !extra.IsEmpty:
                w.WriteString("m_lvb", Convert.ToHexStringLower(extra));
                break;
            case MessageExtra.None when !extra.IsEmpty:
                w.WriteString("m_extra", Convert.ToHexStringLower(extra));
                break;
        }
    }

    public static void Mode(Utf8JsonWriter w, string field, LockMode mode)
    {
        w.WriteNumber(field, (int)mode);
        w.WriteString(field + "_name", LockModes.ShortName(mode));
    }

    public static void Flags(Utf8JsonWriter w, string field, uint value, string names)
    {
        w.WriteNumber(field, value);
        if (names.Length > 0)
        {
            w.WriteString(field + "_names", names);
        }
    }

    public static void Result(Utf8JsonWriter w, string field, int result)
    {
        w.WriteNumber(field, result);
        if (result != 0 && Errno.NameOf(result) is { } name)
        {
            w.WriteString(field + "_name", name);
        }
    }

    /// <summary>A resource name as text when printable ASCII, else as hex under <c>FIELD_hex</c>.</summary>
    public static void Name(Utf8JsonWriter w, string field, ReadOnlySpan<byte> name)
    {
        var printable = true;
        foreach (var b in name)
        {
            printable &= b is >= 0x20 and < 0x7F;
        }

        if (printable)
        {
            w.WriteString(field, System.Text.Encoding.ASCII.GetString(name));
        }
        else
        {
            w.WriteString(field + "_hex", Convert.ToHexStringLower(name));
        }
    }
}
