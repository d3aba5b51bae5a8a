using Dlm.Membership;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dlm;

/// <summary>How to start a node: the cluster, which node this is, and the usual hosting hooks.</summary>
public sealed record DlmNodeOptions
{
    /// <summary>The cluster (usually <see cref="ClusterConfiguration.Load"/>).</summary>
    public required ClusterConfiguration Cluster { get; init; }

    /// <summary>This node's id in <see cref="Cluster"/>.</summary>
    public required int NodeId { get; init; }

    /// <summary>Logging.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Time source for timers (reconnects, shutdown, resource caching).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// Where lockspace membership comes from; null for static membership from <see cref="Cluster"/>
    /// (every node marked as a member is a member of every lockspace). The node does not dispose a provider given here.
    /// </summary>
    public IMembershipProvider? Membership { get; init; }

    /// <summary>How long leaving waits per peer for the FIN handshake (default 5 s, spec §2.9).</summary>
    public TimeSpan LeaveTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>Options of a lockspace.</summary>
public sealed record LockspaceOptions
{
    /// <summary>Bytes in a lock value block: a multiple of 8, the same on every node (default 32, spec §1.10).</summary>
    public int LvbLength { get; init; } = 32;
}
