using System.Text;

namespace Dlm.Protocol;

/// <summary>
/// The lockspace global id carried in <c>h_lockspace</c>: CRC-32 (zlib) of
/// <c>"dlm:ls:&lt;name&gt;"</c> including its terminating NUL, as <c>dlm_controld</c> computes it (spec §1.11).
/// </summary>
public static class LockspaceId
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>The global id of the lockspace named <paramref name="name"/> (1..64 bytes of UTF-8).</summary>
    public static uint Compute(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        Span<byte> bytes = stackalloc byte[WireLimits.MaxLockspaceNameLength * 4];
        var count = Encoding.UTF8.GetByteCount(name);
        if (count > bytes.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(name), count, "A lockspace name is 1..64 bytes (spec §1.10).");
        }

        Encoding.UTF8.GetBytes(name, bytes);
        return Compute(bytes[..count]);
    }

    /// <summary>The global id of the lockspace whose name bytes are <paramref name="name"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> name)
    {
        if (name.Length is 0 or > WireLimits.MaxLockspaceNameLength)
        {
            throw new ArgumentOutOfRangeException(nameof(name), name.Length, "A lockspace name is 1..64 bytes (spec §1.10).");
        }

        var crc = 0xFFFF_FFFFu;
        crc = Update(crc, "dlm:ls:"u8);
        crc = Update(crc, name);
        crc = Update(crc, [0]);
        return ~crc;
    }

    /// <summary>Standard CRC-32 (reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF).</summary>
    public static uint Crc32(ReadOnlySpan<byte> data) => ~Update(0xFFFF_FFFFu, data);

    private static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB8_8320u ^ (c >> 1) : c >> 1;
            }

            table[i] = c;
        }

        return table;
    }
}
