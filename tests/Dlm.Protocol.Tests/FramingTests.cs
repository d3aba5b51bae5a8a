using System.Buffers;

namespace Dlm.Protocol.Tests;

public sealed class FramingTests
{
    public static TheoryData<int> SampleIndexes()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Samples.All.Count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(SampleIndexes))]
    public void Decode_SplitAtEveryOffset_SameMessage(int index)
    {
        var bytes = Samples.All[index];
        Span<byte> scratch = stackalloc byte[WireLimits.MaxMessageLength];
        for (var cut = 0; cut <= bytes.Length; cut++)
        {
            var buffer = Segments.Split(bytes, cut);
            Assert.Equal(OperationStatus.Done, FrameReader.TryReadFrame(ref buffer, out var frame));
            Assert.True(buffer.IsEmpty);
            Assert.True(PacketDecoder.TryDecode(frame, scratch, out var p, out var error), $"cut {cut}: {error}");
            Assert.True(p.Bytes.SequenceEqual(bytes), $"cut {cut}");
        }
    }

    [Fact]
    public void Frame_ConcatenatedStreamSplitAtEveryOffset_YieldsEveryMessageInOrder()
    {
        var stream = Samples.All.SelectMany(b => b).ToArray();
        Span<byte> scratch = stackalloc byte[WireLimits.MaxMessageLength];
        for (var cut = 0; cut <= stream.Length; cut += 7)
        {
            var buffer = Segments.Split(stream, cut, cut + 3, cut + 200);
            for (var i = 0; i < Samples.All.Count; i++)
            {
                Assert.Equal(OperationStatus.Done, FrameReader.TryReadFrame(ref buffer, out var frame));
                Assert.True(PacketDecoder.TryDecode(frame, scratch, out var p, out var error), $"cut {cut} message {i}: {error}");
                Assert.True(p.Bytes.SequenceEqual(Samples.All[i]), $"cut {cut} message {i}");
            }

            Assert.Equal(OperationStatus.NeedMoreData, FrameReader.TryReadFrame(ref buffer, out _));
        }
    }

    [Fact]
    public void Frame_BytesArrivingOneAtATime_NeedMoreDataUntilComplete()
    {
        var stream = Samples.All.SelectMany(b => b).ToArray();
        var received = new List<byte[]>();
        var pending = new List<byte>();
        foreach (var b in stream)
        {
            pending.Add(b);
            var buffer = new ReadOnlySequence<byte>(pending.ToArray());
            var status = FrameReader.TryReadFrame(ref buffer, out var frame);
            Assert.NotEqual(OperationStatus.InvalidData, status);
            if (status == OperationStatus.Done)
            {
                received.Add(frame.ToArray());
                pending.Clear();
                pending.AddRange(buffer.ToArray());
            }
        }

        Assert.Equal(Samples.All, received);
        Assert.Empty(pending);
    }

    [Fact]
    public void Frame_SpanForm_MatchesSequenceForm()
    {
        var stream = Samples.All.SelectMany(b => b).ToArray();
        var offset = 0;
        foreach (var expected in Samples.All)
        {
            Assert.Equal(OperationStatus.Done, FrameReader.TryReadFrame(stream.AsSpan(offset), out var length));
            Assert.Equal(expected.Length, length);
            offset += length;
        }

        Assert.Equal(OperationStatus.NeedMoreData, FrameReader.TryReadFrame(stream.AsSpan(offset), out _));
    }
}
