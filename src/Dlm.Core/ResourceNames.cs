using System.Diagnostics.CodeAnalysis;
using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>
/// Resource names as dictionary keys: byte content equality, hashed with the resource hash
/// (spec §1.11), looked up by span without allocating.
/// </summary>
internal sealed class ResourceNames : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>,
    IAlternateEqualityComparer<HashedName, byte[]>
{
    public static ResourceNames Comparer { get; } = new();

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode([DisallowNull] byte[] obj) => (int)ResourceHash.Compute(obj);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => (int)ResourceHash.Compute(alternate);

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

    public bool Equals(HashedName alternate, byte[] other) => alternate.Name.SequenceEqual(other);

    public int GetHashCode(HashedName alternate) => (int)alternate.Hash;

    public byte[] Create(HashedName alternate) => alternate.Name.ToArray();
}

/// <summary>A resource name with its hash computed once, for the shard and the dictionary both (hot path).</summary>
internal readonly ref struct HashedName(ReadOnlySpan<byte> name, uint hash)
{
    public HashedName(ReadOnlySpan<byte> name)
        : this(name, ResourceHash.Compute(name))
    {
    }

    public ReadOnlySpan<byte> Name { get; } = name;

    public uint Hash { get; } = hash;
}
