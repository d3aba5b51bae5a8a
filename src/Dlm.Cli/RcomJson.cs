using System.Text.Json;
using Dlm.Protocol;

namespace Dlm.Cli;

/// <summary>Writes a <c>dlm_rcom</c> and its payload as JSON (spec §1.7).</summary>
internal static class RcomJson
{
    public static void Write(Utf8JsonWriter w, RcomHeader rc, ReadOnlySpan<byte> payload)
    {
        w.WriteNumber("rc_type", (int)rc.Type);
        w.WriteString("rc_type_name", WireNames.Of(rc.Type));
        PacketJson.Result(w, "rc_result", rc.Result);
        w.WriteNumber("rc_id", rc.Id);
        w.WriteNumber("rc_seq", rc.Seq);
        w.WriteNumber("rc_seq_reply", rc.SeqReply);
        switch (rc.Type)
        {
            case RcomType.Status when !payload.IsEmpty:
                w.WriteNumber("rs_flags", RcomStatus.Read(payload).Flags);
                break;
            case RcomType.StatusReply:
                WriteConfig(w, payload);
                break;
            case RcomType.Names:
                PacketJson.Name(w, "rc_last_name", payload);
                break;
            case RcomType.Lookup:
                PacketJson.Name(w, "rc_name", payload);
                break;
            case RcomType.NamesReply:
                WriteNames(w, payload);
                break;
            case RcomType.Lock:
            case RcomType.LockReply:
                WriteLock(w, payload);
                break;
        }
    }

    private static void WriteConfig(Utf8JsonWriter w, ReadOnlySpan<byte> payload)
    {
        var rf = RcomConfig.Read(payload);
        w.WriteNumber("rf_lvblen", rf.LvbLength);
        w.WriteNumber("rf_lsflags", rf.LockspaceFlags);
        w.WriteNumber("rf_flags", rf.Flags);
        w.WriteNumber("rf_our_slot", rf.OurSlot);
        w.WriteNumber("rf_num_slots", rf.SlotCount);
        w.WriteNumber("rf_generation", rf.Generation);
        w.WriteStartArray("rf_slots");
        for (var i = 0; i < rf.SlotCount; i++)
        {
            var slot = RcomConfig.ReadSlot(payload, i);
            w.WriteStartObject();
            w.WriteNumber("ro_nodeid", slot.NodeId);
            w.WriteNumber("ro_slot", slot.Slot);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteNames(Utf8JsonWriter w, ReadOnlySpan<byte> payload)
    {
        var reader = new NamesReader(payload);
        w.WriteStartArray("names");
        NamesRecord record;
        while ((record = reader.Next(out var name)) == NamesRecord.Name)
        {
            w.WriteStartObject();
            PacketJson.Name(w, "name", name);
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteString("names_end", record == NamesRecord.EndOfList ? "end_of_list" : "end_of_chunk");
    }

    private static void WriteLock(Utf8JsonWriter w, ReadOnlySpan<byte> payload)
    {
        var rl = RcomLock.Read(payload);
        w.WriteNumber("rl_ownpid", rl.OwnerPid);
        w.WriteNumber("rl_lkid", rl.LockId);
        w.WriteNumber("rl_remid", rl.RemoteId);
        w.WriteNumber("rl_parent_lkid", rl.ParentLockId);
        w.WriteNumber("rl_parent_remid", rl.ParentRemoteId);
        PacketJson.Flags(w, "rl_exflags", (uint)rl.ExFlags, WireNames.Of(rl.ExFlags));
        PacketJson.Flags(w, "rl_flags", (uint)rl.Flags, WireNames.Of(rl.Flags));
        w.WriteNumber("rl_lvbseq", rl.LvbSeq);
        PacketJson.Result(w, "rl_result", rl.Result);
        PacketJson.Mode(w, "rl_rqmode", rl.RequestedMode);
        PacketJson.Mode(w, "rl_grmode", rl.GrantedMode);
        w.WriteNumber("rl_status", (int)rl.Status);
        w.WriteString("rl_status_name", WireNames.Of(rl.Status));
        PacketJson.Flags(w, "rl_asts", (uint)rl.Asts, WireNames.Of(rl.Asts));
        w.WriteNumber("rl_wait_type", rl.WaitType);
        w.WriteNumber("rl_namelen", rl.NameLength);
        PacketJson.Name(w, "rl_name", RcomLock.NameOf(payload));
        var lvb = RcomLock.ValueBlockOf(payload);
        if (!lvb.IsEmpty)
        {
            w.WriteString("rl_lvb", Convert.ToHexStringLower(lvb));
        }
    }
}
