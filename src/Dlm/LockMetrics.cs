using System.Diagnostics;
using System.Diagnostics.Metrics;
using Dlm.Transport;

namespace Dlm;

/// <summary>Lock instruments on the <c>Dlm</c> meter (docs/operations.md).</summary>
internal static class LockMetrics
{
    public static readonly Counter<long> Requests = DlmMetrics.Meter.CreateCounter<long>("dlm.lock.requests", "{request}", "Lock requests, tagged with their outcome.");
    public static readonly Histogram<double> AcquireDuration = DlmMetrics.Meter.CreateHistogram<double>("dlm.lock.acquire.duration", "s", "Time from a lock request to its grant.");
    public static readonly Counter<long> Conversions = DlmMetrics.Meter.CreateCounter<long>("dlm.lock.conversions", "{conversion}", "Conversions, tagged with their outcome.");
    public static readonly Counter<long> BlockingCallbacks = DlmMetrics.Meter.CreateCounter<long>("dlm.lock.blocking_callbacks", "{callback}", "Blocking callbacks delivered to holders.");

    public static void Requested(string outcome, long started)
    {
        Requests.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
        if (outcome == "granted")
        {
            AcquireDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }
}
