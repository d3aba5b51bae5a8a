using System.Buffers;

namespace Dlm.Protocol.Tests;

/// <summary>
/// Builds multi-segment <see cref="ReadOnlySequence{T}"/>s over one array, as a socket's reads could
/// deliver them.
/// </summary>
internal static class Segments
{
    /// <summary>
    /// Splits <paramref name="data"/> at the given offsets (any order; clamped to 0..Length) into
    /// consecutive segments. A cut at 0, at the end or repeated yields an empty segment, which a
    /// sequence may legally contain; no cuts yields a single segment.
    /// </summary>
    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cuts)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(cuts);
        if (cuts.Length == 0)
        {
            return new ReadOnlySequence<byte>(data);
        }

        var bounds = cuts.Select(c => Math.Clamp(c, 0, data.Length)).Order().Append(data.Length).ToArray();
        var first = new Chunk(data.AsMemory(0, bounds[0]), 0);
        var last = first;
        for (var i = 1; i < bounds.Length; i++)
        {
            last = last.Append(data.AsMemory(bounds[i - 1], bounds[i] - bounds[i - 1]));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Chunk : ReadOnlySequenceSegment<byte>
    {
        public Chunk(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Chunk Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Chunk(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
