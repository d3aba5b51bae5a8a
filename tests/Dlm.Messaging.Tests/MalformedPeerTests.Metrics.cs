using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Dlm.Protocol;

namespace Dlm.Messaging.Tests;

public sealed partial class MalformedPeerTests
{
    // The meter named Dlm (docs/operations.md) counts what a peer's traffic does. Its instruments are
    // process-wide and tests run in parallel, so each total is checked as at least this test's share.
    [Fact]
    public async Task Meter_Dlm_CountsConnectsBytesDeliveriesAndDrops()
    {
        const uint count = 100;
        var totals = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Dlm")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => totals.AddOrUpdate(instrument.Name, value, (_, v) => v + value));
        listener.Start();

        var ip = TestCluster.AllocateAddresses(2);
        var (node, recorder) = StartNode(1, ip);
        await using var n1 = node;
        using var raw = await RawPeer.ConnectAsync(ip[1], ip[0]);
        var wrapped = Enumerable.Range(0, (int)count).Select(i => Wire.Wrapped((uint)i, (uint)i)).ToArray();
        await raw.SendAsync([Wire.Status(), .. wrapped, Wire.WithOptionsLength(Wire.Wrapped(count, 999), 200), Wire.Wrapped(count, count)]);
        await recorder.WaitForAsync(RawNode, count + 1, Timeout);
        // Duplicates are re-ACKed, so node 1 writes to the socket. A message's counters are recorded after
        // its handling, so the second re-ACK shows that the first duplicate's batch, and the batches of
        // everything before it, have been counted.
        for (var i = 0; i < 2; i++)
        {
            await raw.SendAsync(Wire.Wrapped(0, 0));
            Assert.NotNull(await raw.ReadFrameAsync("node 1's re-ACK"));
        }

        Assert.True(Total("dlm.transport.connects") >= 1);
        Assert.True(Total("dlm.transport.bytes_received") >= wrapped.Sum(w => w.Length));
        Assert.True(Total("dlm.transport.bytes_sent") >= WireLimits.HeaderSize);
        Assert.True(Total("dlm.messaging.delivered") >= count + 2); // the STATUS and the wrapped messages
        Assert.True(Total("dlm.messaging.dropped") >= 1);           // the envelope whose o_optlen runs past its end
        Assert.True(Total("dlm.messaging.duplicates") >= 1);
        Assert.Empty(recorder.Violations);

        long Total(string name)
        {
            listener.RecordObservableInstruments();
            return totals.GetValueOrDefault(name);
        }
    }
}
