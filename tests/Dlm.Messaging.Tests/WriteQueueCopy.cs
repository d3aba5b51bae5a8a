using Dlm.Transport;

namespace Dlm.Messaging.Tests;

/// <summary>What a socket writer does with a <see cref="WriteQueue"/>, in one call: claim, copy out, unpin.</summary>
internal static class WriteQueueCopy
{
    public static int CopyOut(this WriteQueue queue, Span<byte> destination, out int messages)
    {
        var batch = new WriteQueue.Batch();
        queue.Claim(destination.Length, batch);
        batch.CopyTo(destination);
        (var length, messages) = (batch.Length, batch.Messages);
        queue.Unpin(batch);
        return length;
    }
}
