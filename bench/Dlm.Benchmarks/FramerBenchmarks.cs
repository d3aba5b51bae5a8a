using System.Buffers;
using BenchmarkDotNet.Attributes;
using Dlm.Protocol;

namespace Dlm.Benchmarks;

/// <summary>
/// The framer over a 1 MiB mixed stream (wrapped REQUESTs, GRANTs with LVB, ACKs),
/// as one span and as 64 KiB socket-read segments. Target ≥ 1 GB/s: divide 1 MiB by the mean.
/// </summary>
[MemoryDiagnoser]
public class FramerBenchmarks
{
    private byte[] _stream = [];
    private ReadOnlySequence<byte> _segmented;

    public static int StreamBytes => 1 << 20;

    [GlobalSetup]
    public void Setup()
    {
        var buffer = new ArrayBufferWriter<byte>();
        var message = new DlmMessage { Type = MessageType.Request, RequestedMode = LockMode.Exclusive, GrantedMode = LockMode.Invalid };
        var grant = message with { Type = MessageType.Grant };
        var lvb = new byte[32];
        uint seq = 0;
        while (buffer.WrittenCount < StreamBytes - 256)
        {
            PacketWriter.WriteWrappedMessage(buffer, seq++, 0x1234, 1, message, "resource/0042"u8);
            PacketWriter.WriteWrappedMessage(buffer, seq++, 0x1234, 1, grant, lvb);
            PacketWriter.WriteAck(buffer, seq, 1);
        }

        _stream = buffer.WrittenSpan.ToArray();
        _segmented = Segments.Of(_stream, 64 * 1024);
        var messages = (int)seq / 2 * 3; // each round: two wrapped messages and an ACK
        if (FrameSpan() != messages || FrameSequence() != messages || FrameAndDecodeSequence() != messages)
        {
            throw new InvalidOperationException("the benchmark's stream does not frame and decode whole"); // it would time a short stream
        }
    }

    [Benchmark]
    public int FrameSpan()
    {
        var span = _stream.AsSpan();
        var count = 0;
        while (FrameReader.TryReadFrame(span, out var length) == OperationStatus.Done)
        {
            span = span[length..];
            count++;
        }

        return count;
    }

    [Benchmark]
    public int FrameSequence()
    {
        var buffer = _segmented;
        var count = 0;
        while (FrameReader.TryReadFrame(ref buffer, out _) == OperationStatus.Done)
        {
            count++;
        }

        return count;
    }

    [Benchmark]
    public int FrameAndDecodeSequence()
    {
        var buffer = _segmented;
        Span<byte> scratch = stackalloc byte[WireLimits.MaxMessageLength];
        var count = 0;
        while (FrameReader.TryReadFrame(ref buffer, out var frame) == OperationStatus.Done)
        {
            if (PacketDecoder.TryDecode(frame, scratch, out _, out _))
            {
                count++;
            }
        }

        return count;
    }
}

internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long index)
    {
        Memory = memory;
        RunningIndex = index;
    }

    public static ReadOnlySequence<byte> Of(byte[] data, int size)
    {
        var first = new Segments(data.AsMemory(0, Math.Min(size, data.Length)), 0);
        var last = first;
        for (var at = size; at < data.Length; at += size)
        {
            var next = new Segments(data.AsMemory(at, Math.Min(size, data.Length - at)), at);
            last.Next = next;
            last = next;
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
