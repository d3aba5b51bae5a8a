namespace Dlm.Protocol;

/// <summary>A lockspace member as the directory sees it: node id and weight (spec §1.11).</summary>
/// <param name="NodeId">Positive node id.</param>
/// <param name="Weight">Directory weight; 0 excludes the node unless every weight is 0.</param>
public readonly record struct DirectoryMember(int NodeId, int Weight = 1);

/// <summary>
/// Chooses the directory node of a resource: <c>nodes[(hash &gt;&gt; 16) mod total_weight]</c> where
/// <c>nodes</c> lists member ids in ascending order, each repeated <c>weight</c> times; members of
/// weight 0 are left out unless all weights are 0, then each counts once (spec §1.11).
/// Immutable; build one per membership view.
/// </summary>
public sealed class DirectoryNodes
{
    private readonly int[] _nodes;

    /// <summary>Builds the weighted node array of a view.</summary>
    public DirectoryNodes(IEnumerable<DirectoryMember> members)
    {
        ArgumentNullException.ThrowIfNull(members);
        var sorted = members.OrderBy(m => m.NodeId).ToArray();
        if (sorted.Length == 0)
        {
            throw new ArgumentException("A lockspace has at least one member.", nameof(members));
        }

        foreach (var m in sorted)
        {
            if (m.NodeId <= 0 || m.Weight < 0)
            {
                throw new ArgumentException($"Member {m.NodeId} weight {m.Weight}: node ids are positive and weights non-negative.", nameof(members));
            }
        }

        var allZero = sorted.All(m => m.Weight == 0);
        _nodes = sorted.SelectMany(m => Enumerable.Repeat(m.NodeId, allZero ? 1 : m.Weight)).ToArray();
        MemberCount = sorted.Length;
        Members = sorted.Select(m => m.NodeId).ToArray();
    }

    /// <summary>The member ids in ascending order.</summary>
    public IReadOnlyList<int> Members { get; }

    /// <summary>The number of members in the view.</summary>
    public int MemberCount { get; }

    /// <summary>The total weight, the length of the node array.</summary>
    public int TotalWeight => _nodes.Length;

    /// <summary>The directory node of a resource with hash <paramref name="hash"/>.</summary>
    public int NodeFor(uint hash) => MemberCount == 1 ? _nodes[0] : _nodes[(int)((hash >> 16) % (uint)_nodes.Length)];
}
