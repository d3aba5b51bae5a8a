using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Dlm.Protocol;

namespace Dlm.Cli.Node;

/// <summary>What a running node tells about itself (JSON), in the spirit of <c>dlm_tool status / ls / lockdump</c>.</summary>
internal static class NodeReports
{
    public static JsonObject Status(DlmNode node) => new()
    {
        ["node"] = node.NodeId,
        ["fenced"] = node.IsFenced,
        ["peers"] = new JsonArray([.. node.Messaging.GetStatistics().Select(p => (JsonNode)new JsonObject
        {
            ["node"] = p.NodeId,
            ["state"] = p.State.ToString(),
            ["version"] = p.Version == 0 ? "unknown" : $"{p.Version >> 16}.{p.Version & 0xFFFF}",
            ["users"] = p.Users,
            ["delivered"] = p.Delivered,
            ["retransmitted"] = p.Retransmitted,
            ["queued"] = p.QueuedMessages,
        })]),
        ["lockspaces"] = Lockspaces(node)["lockspaces"]!.DeepClone(),
    };

    public static JsonObject Lockspaces(DlmNode node) => new()
    {
        ["lockspaces"] = new JsonArray([.. node.Lockspaces.OrderBy(l => l.Name, StringComparer.Ordinal).Select(l => (JsonNode)new JsonObject
        {
            ["name"] = l.Name,
            ["id"] = $"0x{l.GlobalId:x8}",
            ["running"] = l.IsRunning,
            ["generation"] = l.Generation,
            ["slot"] = l.Slot,
            ["members"] = new JsonArray([.. l.Members.Select(m => (JsonNode)m)]),
            ["recoveries"] = l.Recoveries,
            ["last_recovery_ms"] = Math.Round(l.LastRecoveryTime.TotalMilliseconds, 1),
            ["lvb_length"] = l.LvbLength,
        })]),
    };

    public static JsonObject LockDump(DlmNode node, string name)
    {
        var lockspace = node.Lockspaces.FirstOrDefault(l => l.Name == name)
            ?? throw new InvalidOperationException($"node {node.NodeId} has not joined lockspace '{name}'");
        return new JsonObject
        {
            ["lockspace"] = name,
            ["resources"] = new JsonArray([.. lockspace.Dump().OrderBy(r => Encoding.UTF8.GetString(r.Name), StringComparer.Ordinal).Select(r => (JsonNode)new JsonObject
            {
                ["name"] = Printable(r.Name),
                ["master"] = r.Master,
                ["lvb_not_valid"] = r.ValueNotValid,
                ["locks"] = new JsonArray([.. r.Locks.Select(l => (JsonNode)new JsonObject
                {
                    ["id"] = $"{l.Id:x}",
                    ["node"] = l.Node,
                    ["remote_id"] = $"{l.RemoteId:x}",
                    ["granted"] = LockModes.ShortName(l.Granted),
                    ["requested"] = LockModes.ShortName(l.Requested),
                    ["queue"] = l.Queue.ToString(),
                    ["pid"] = l.Pid,
                    ["orphan"] = l.Orphan,
                })]),
            })]),
        };
    }

    private static string Printable(byte[] name) =>
        name.All(b => b is >= 0x20 and < 0x7F) ? Encoding.ASCII.GetString(name) : "0x" + Convert.ToHexString(name).ToLower(CultureInfo.InvariantCulture);
}
