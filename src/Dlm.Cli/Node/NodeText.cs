using System.Text;
using System.Text.Json.Nodes;

namespace Dlm.Cli.Node;

/// <summary>Plain-text forms of the control answers.</summary>
internal static class NodeText
{
    public static string Format(string command, JsonNode json)
    {
        var text = new StringBuilder();
        if (command == "status")
        {
            text.AppendLine($"node {json["node"]}{(json["fenced"]!.GetValue<bool>() ? " (FENCED)" : "")}");
            foreach (var peer in json["peers"]!.AsArray())
            {
                text.AppendLine($"  peer {peer!["node"],-4} {peer["state"],-12} version {peer["version"],-8} users {peer["users"],-3} delivered {peer["delivered"]} retransmitted {peer["retransmitted"]} queued {peer["queued"]}");
            }
        }

        if (command is "status" or "ls")
        {
            foreach (var ls in json["lockspaces"]!.AsArray())
            {
                text.AppendLine($"lockspace {ls!["name"]} id {ls["id"]} {(ls["running"]!.GetValue<bool>() ? "running" : "recovering")} generation {ls["generation"]} slot {ls["slot"]}");
                text.AppendLine($"  members {string.Join(" ", ls["members"]!.AsArray().Select(m => m!.ToString()))}; {ls["recoveries"]} recoveries, last {ls["last_recovery_ms"]} ms");
            }
        }

        if (command == "lockdump")
        {
            foreach (var r in json["resources"]!.AsArray())
            {
                text.AppendLine($"resource {r!["name"]} master {r["master"]}{(r["lvb_not_valid"]!.GetValue<bool>() ? " lvb-not-valid" : "")}");
                foreach (var l in r["locks"]!.AsArray())
                {
                    text.AppendLine($"  lock {l!["id"],-8} node {l["node"],-4} remote {l["remote_id"],-8} {l["granted"]} -> {l["requested"]} {l["queue"]} pid {l["pid"]}{((bool)l["orphan"]! ? " orphan" : "")}");
                }
            }
        }

        return text.ToString();
    }
}
