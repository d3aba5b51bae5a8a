using System.Buffers.Binary;
using System.Numerics;

namespace Dlm.Protocol;

/// <summary>
/// The resource hash: Linux <c>jhash(name, namelen, 0)</c>, Bob Jenkins' lookup3 with 12-byte
/// blocks read as little-endian words and a 1..12 byte tail added byte-wise (spec §1.11).
/// Carried in <c>m_hash</c>; its upper 16 bits pick the directory node. Hot path.
/// </summary>
public static class ResourceHash
{
    private const uint Golden = 0xDEAD_BEEF;

    /// <summary>Hashes <paramref name="key"/> with <paramref name="initialValue"/> (0 for resource names).</summary>
    public static uint Compute(ReadOnlySpan<byte> key, uint initialValue = 0)
    {
        uint a, b, c;
        a = b = c = Golden + (uint)key.Length + initialValue;

        while (key.Length > 12)
        {
            a += BinaryPrimitives.ReadUInt32LittleEndian(key);
            b += BinaryPrimitives.ReadUInt32LittleEndian(key[4..]);
            c += BinaryPrimitives.ReadUInt32LittleEndian(key[8..]);
            Mix(ref a, ref b, ref c);
            key = key[12..];
        }

        if (key.IsEmpty)
        {
            return c;
        }

        // Tail of 1..12 bytes: byte i goes into word i/4 at bit 8*(i%4) — a little-endian partial read.
        a += Word(key);
        if (key.Length > 4)
        {
            b += Word(key[4..]);
            if (key.Length > 8)
            {
                c += Word(key[8..]);
            }
        }

        Final(ref a, ref b, ref c);
        return c;
    }

    // The first 1..4 bytes of a tail as a little-endian word, missing bytes zero.
    private static uint Word(ReadOnlySpan<byte> bytes) => bytes.Length switch
    {
        >= 4 => BinaryPrimitives.ReadUInt32LittleEndian(bytes),
        3 => bytes[0] | ((uint)bytes[1] << 8) | ((uint)bytes[2] << 16),
        2 => bytes[0] | ((uint)bytes[1] << 8),
        _ => bytes[0],
    };

    private static void Mix(ref uint a, ref uint b, ref uint c)
    {
        a -= c; a ^= BitOperations.RotateLeft(c, 4); c += b;
        b -= a; b ^= BitOperations.RotateLeft(a, 6); a += c;
        c -= b; c ^= BitOperations.RotateLeft(b, 8); b += a;
        a -= c; a ^= BitOperations.RotateLeft(c, 16); c += b;
        b -= a; b ^= BitOperations.RotateLeft(a, 19); a += c;
        c -= b; c ^= BitOperations.RotateLeft(b, 4); b += a;
    }

    private static void Final(ref uint a, ref uint b, ref uint c)
    {
        c ^= b; c -= BitOperations.RotateLeft(b, 14);
        a ^= c; a -= BitOperations.RotateLeft(c, 11);
        b ^= a; b -= BitOperations.RotateLeft(a, 25);
        c ^= b; c -= BitOperations.RotateLeft(b, 16);
        a ^= c; a -= BitOperations.RotateLeft(c, 4);
        b ^= a; b -= BitOperations.RotateLeft(a, 14);
        c ^= b; c -= BitOperations.RotateLeft(b, 24);
    }
}
