using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dlm.Membership.Etcd;

/// <summary>How a node takes part in an etcd membership (docs/membership.md "etcd").</summary>
public sealed record EtcdMembershipOptions
{
    /// <summary>etcd client URLs, e.g. http://127.0.0.1:2379.</summary>
    public required IReadOnlyList<string> Endpoints { get; init; }

    /// <summary>This node's id.</summary>
    public required int NodeId { get; init; }

    /// <summary>This node's address (published with its member key).</summary>
    public required IPAddress Address { get; init; }

    /// <summary>Directory weight.</summary>
    public int Weight { get; init; } = 1;

    /// <summary>Lease time-to-live: a node that cannot renew its lease for this long is gone (default 5 s; etcd's floor is 2 s).</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Key prefix (default /dlm).</summary>
    public string Prefix { get; init; } = "/dlm";

    /// <summary>How long one etcd call may take before it counts as failed.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Clock for keep-alives and self-fencing.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Test seam: awaited when a keep-alive answer arrives, with its request's send time (a <see cref="TimeProvider"/> timestamp) and the stream's token, before it counts.</summary>
    internal Func<long, CancellationToken, Task>? BeforeKeepAliveAnswer { get; init; }

    /// <summary>Test seam: awaited for each watch response before it is used, with the stream's token.</summary>
    internal Func<Etcdserverpb.WatchResponse, CancellationToken, Task>? BeforeWatchResponse { get; init; }

    /// <summary>Logging.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Self-fencing margin: liveness ends when no keep-alive was acknowledged for TTL minus this.</summary>
    public TimeSpan FenceMargin => TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, Ttl.Ticks / 4));
}

/// <summary>The etcd membership cannot be used (etcd unreachable, node id already live, lease lost).</summary>
public sealed class MembershipException : Exception
{
    /// <summary>Creates the exception.</summary>
    public MembershipException(string message) : base(message) { }

    /// <summary>Creates the exception with its cause.</summary>
    public MembershipException(string message, Exception innerException) : base(message, innerException) { }
}
