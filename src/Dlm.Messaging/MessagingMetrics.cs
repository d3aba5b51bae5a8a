using System.Diagnostics.Metrics;
using Dlm.Transport;

namespace Dlm.Messaging;

/// <summary>midcomms instruments on the <c>Dlm</c> meter.</summary>
internal static class MessagingMetrics
{
    public static readonly Counter<long> Retransmits = DlmMetrics.Meter.CreateCounter<long>("dlm.messaging.retransmits", "{message}", "Unacknowledged messages queued again on a new connection.");
    public static readonly Counter<long> Duplicates = DlmMetrics.Meter.CreateCounter<long>("dlm.messaging.duplicates", "{message}", "Sequenced messages dropped as already delivered.");
    public static readonly Counter<long> Dropped = DlmMetrics.Meter.CreateCounter<long>("dlm.messaging.dropped", "{message}", "Messages dropped: malformed, gap, version mismatch, wrong node, unsupported.");
    public static readonly Counter<long> Delivered = DlmMetrics.Meter.CreateCounter<long>("dlm.messaging.delivered", "{message}", "Messages handed to the lock and recovery layer.");
}
