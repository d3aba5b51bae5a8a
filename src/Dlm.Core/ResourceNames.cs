using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>
/// Resource names as dictionary keys (the directory records; resources use <see cref="ResourceTable"/>):
/// byte content equality, hashed with <see cref="Hash"/>, looked up by span without allocating.
/// </summary>
internal sealed class ResourceNames : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static ResourceNames Comparer { get; } = new();

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode([DisallowNull] byte[] obj) => (int)Hash(obj);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => (int)Hash(alternate);

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

    /// <summary>
    /// The engine's own hash of a name, for its shards and tables only: a few multiplications over
    /// 8-byte words, cheaper than jhash (spec §1.11), which is computed only where the wire needs it
    /// (the directory node, <c>m_hash</c>). Not secret: peers are cluster members, as for jhash.
    /// </summary>
    public static uint Hash(ReadOnlySpan<byte> name)
    {
        const ulong Multiplier = 0x9E37_79B9_7F4A_7C15; // 2^64 / golden ratio
        var h = (ulong)name.Length * Multiplier;
        if (name.Length >= 8)
        {
            var words = name;
            while (words.Length > 8)
            {
                h = (h ^ BinaryPrimitives.ReadUInt64LittleEndian(words)) * Multiplier;
                h ^= h >> 32;
                words = words[8..];
            }

            h ^= BinaryPrimitives.ReadUInt64LittleEndian(name[^8..]); // the last 8 bytes, overlapping what came before
        }
        else if (name.Length >= 4)
        {
            h ^= BinaryPrimitives.ReadUInt32LittleEndian(name) | ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(name[^4..]) << 32);
        }
        else if (name.Length > 0)
        {
            h ^= name[0] | ((ulong)name[name.Length / 2] << 8) | ((ulong)name[^1] << 16);
        }

        // MurmurHash3's 64-bit finaliser: every input bit reaches the low bits the shard mask keeps.
        h ^= h >> 33;
        h *= 0xFF51_AFD7_ED55_8CCD;
        h ^= h >> 33;
        h *= 0xC4CE_B9FE_1A85_EC53;
        return (uint)(h ^ (h >> 33));
    }
}

/// <summary>A resource name with its <see cref="ResourceNames.Hash"/> computed once, for the shard and its table both (hot path).</summary>
internal readonly ref struct HashedName(ReadOnlySpan<byte> name, uint hash)
{
    public HashedName(ReadOnlySpan<byte> name)
        : this(name, ResourceNames.Hash(name))
    {
    }

    public ReadOnlySpan<byte> Name { get; } = name;

    public uint Hash { get; } = hash;
}
