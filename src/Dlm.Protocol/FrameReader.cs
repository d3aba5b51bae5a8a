using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Dlm.Protocol;

/// <summary>
/// Cuts a byte stream into messages by <c>h_length</c>, whatever the read boundaries (spec §3.5).
/// <c>h_length</c> is checked against 16..4096 before waiting for the body. Hot path.
/// </summary>
public static class FrameReader
{
    /// <summary>
    /// <see cref="OperationStatus.Done"/>: <paramref name="frame"/> holds one message and
    /// <paramref name="buffer"/> was advanced past it. <see cref="OperationStatus.NeedMoreData"/>:
    /// the buffer is untouched. <see cref="OperationStatus.InvalidData"/>: <c>h_length</c> is outside
    /// 16..4096, a framing error that closes the connection; the buffer is untouched.
    /// </summary>
    public static OperationStatus TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame)
    {
        frame = default;
        int length;
        var first = buffer.FirstSpan;
        if (first.Length >= WireLimits.HeaderSize)
        {
            length = BinaryPrimitives.ReadUInt16LittleEndian(first[DlmHeader.LengthOffset..]);
        }
        else
        {
            if (buffer.Length < WireLimits.HeaderSize)
            {
                return OperationStatus.NeedMoreData;
            }

            Span<byte> lengthBytes = stackalloc byte[2];
            buffer.Slice(DlmHeader.LengthOffset, 2).CopyTo(lengthBytes);
            length = BinaryPrimitives.ReadUInt16LittleEndian(lengthBytes);
        }

        if (length is < WireLimits.HeaderSize or > WireLimits.MaxMessageLength)
        {
            return OperationStatus.InvalidData;
        }

        if (buffer.Length < length)
        {
            return OperationStatus.NeedMoreData;
        }

        frame = buffer.Slice(0, length);
        buffer = buffer.Slice(frame.End);
        return OperationStatus.Done;
    }

    /// <summary>Span form: the length of the first message in <paramref name="buffer"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static OperationStatus TryReadFrame(ReadOnlySpan<byte> buffer, out int length)
    {
        length = 0;
        if (buffer.Length < WireLimits.HeaderSize)
        {
            return OperationStatus.NeedMoreData;
        }

        var l = BinaryPrimitives.ReadUInt16LittleEndian(buffer[DlmHeader.LengthOffset..]);
        if (l is < WireLimits.HeaderSize or > WireLimits.MaxMessageLength)
        {
            return OperationStatus.InvalidData;
        }

        if (buffer.Length < l)
        {
            return OperationStatus.NeedMoreData;
        }

        length = l;
        return OperationStatus.Done;
    }

    /// <summary>
    /// Takes the first message off <paramref name="messages"/>, a run of whole messages as the transport
    /// hands them over (<c>ITransportHandler.OnMessages</c>). Its <c>h_length</c> is checked again, so a run
    /// that does not start with a whole message throws instead of looping or overrunning.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ReadOnlySpan<byte> Next(ref ReadOnlySpan<byte> messages)
    {
        if (TryReadFrame(messages, out var length) != OperationStatus.Done)
        {
            ThrowNotWhole(messages.Length, nameof(messages));
        }

        var message = messages[..length];
        messages = messages[length..];
        return message;
    }

    [DoesNotReturn]
    private static void ThrowNotWhole(int length, string paramName) =>
        throw new ArgumentException($"The {length} bytes left do not start with a whole message (h_length 16..4096, spec §3.5).", paramName);
}
