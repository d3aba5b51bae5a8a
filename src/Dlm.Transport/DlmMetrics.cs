using System.Diagnostics.Metrics;

namespace Dlm.Transport;

/// <summary>The one <see cref="Meter"/> named <c>Dlm</c> and the transport's instruments (docs/operations.md).</summary>
public static class DlmMetrics
{
    /// <summary>The meter every DLM layer reports through.</summary>
    public static Meter Meter { get; } = new("Dlm");

    internal static readonly Counter<long> Connects = Meter.CreateCounter<long>("dlm.transport.connects", "{connection}", "Connections that became usable (outbound connected or inbound adopted).");
    internal static readonly Counter<long> ConnectFailures = Meter.CreateCounter<long>("dlm.transport.connect_failures", "{attempt}", "Outbound connect attempts that failed.");
    internal static readonly Counter<long> Disconnects = Meter.CreateCounter<long>("dlm.transport.disconnects", "{connection}", "Connections closed by error, EOF or abort.");
    internal static readonly Counter<long> Rejected = Meter.CreateCounter<long>("dlm.transport.rejected", "{connection}", "Inbound connections from unknown addresses or while stopping.");
    internal static readonly Counter<long> FramingErrors = Meter.CreateCounter<long>("dlm.transport.framing_errors", "{error}", "Connections closed because h_length was outside 16..4096.");
    internal static readonly Counter<long> BytesSent = Meter.CreateCounter<long>("dlm.transport.bytes_sent", "By", "Bytes written to peer sockets.");
    internal static readonly Counter<long> BytesReceived = Meter.CreateCounter<long>("dlm.transport.bytes_received", "By", "Bytes read from peer sockets.");
}
