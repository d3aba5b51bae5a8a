using System.Buffers;

namespace Dlm.Transport.Tests;

/// <summary>A memory pool that counts the buffers rented and not yet returned, and the most held at once.</summary>
internal sealed class CountingMemoryPool : MemoryPool<byte>
{
    private int _held;
    private int _mostHeld;
    private int _rented;

    public override int MaxBufferSize => Array.MaxLength;

    /// <summary>The most buffers held at once so far.</summary>
    public int MostHeld => Volatile.Read(ref _mostHeld);

    /// <summary>Buffers rented so far.</summary>
    public int Rented => Volatile.Read(ref _rented);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        Interlocked.Increment(ref _rented);
        var held = Interlocked.Increment(ref _held);
        for (var most = MostHeld; held > most && Interlocked.CompareExchange(ref _mostHeld, held, most) != most; most = MostHeld)
        {
        }

        return new Owner(this, new byte[minBufferSize < 0 ? 4096 : minBufferSize]);
    }

    protected override void Dispose(bool disposing)
    {
    }

    private sealed class Owner(CountingMemoryPool pool, byte[] buffer) : IMemoryOwner<byte>
    {
        private byte[]? _buffer = buffer;

        public Memory<byte> Memory => _buffer ?? throw new ObjectDisposedException(nameof(Owner));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _buffer, null) is not null)
            {
                Interlocked.Decrement(ref pool._held);
            }
        }
    }
}
