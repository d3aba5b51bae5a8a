using System.Diagnostics.CodeAnalysis;
using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>
/// Resource names as dictionary keys: byte content equality, hashed with the resource hash
/// (spec §1.11), looked up by span without allocating.
/// </summary>
internal sealed class ResourceNames : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
{
    public static ResourceNames Comparer { get; } = new();

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode([DisallowNull] byte[] obj) => (int)ResourceHash.Compute(obj);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => (int)ResourceHash.Compute(alternate);

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
}
