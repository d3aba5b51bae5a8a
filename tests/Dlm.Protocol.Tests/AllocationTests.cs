using System.Buffers;

namespace Dlm.Protocol.Tests;

/// <summary>
/// The hot paths allocate nothing per message (architecture §4). Allocation is deterministic, so
/// it is checked here; speed is measured in bench/, not asserted.
/// </summary>
public sealed class AllocationTests
{
    [Fact]
    public void DecodeEncodeFrame_WarmLoop_AllocatesNothing()
    {
        var output = new byte[256];
        var stream = Samples.All.SelectMany(b => b).ToArray();
        var segmented = Segments.Split(stream, 100, 1000, 2000);
        var message = Vectors.WorkedExampleMessage;
        Run(); // warm up: JIT, static tables

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            Run();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        void Run()
        {
            PacketDecoder.TryDecode(Vectors.WorkedExample, out _, out _);
            PacketWriter.WriteWrappedMessage(output, 5, Vectors.MyLockspace, 1, message, "foo"u8);
            PacketWriter.WriteAck(output, 6, 2);
            ResourceHash.Compute("customer/42"u8);
            var buffer = segmented;
            Span<byte> scratch = stackalloc byte[WireLimits.MaxMessageLength];
            while (FrameReader.TryReadFrame(ref buffer, out var frame) == OperationStatus.Done)
            {
                PacketDecoder.TryDecode(frame, scratch, out _, out _);
            }
        }
    }
}
