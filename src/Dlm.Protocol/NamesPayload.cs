using System.Buffers.Binary;

namespace Dlm.Protocol;

/// <summary>What one step of a NAMES_REPLY walk found (spec §1.7.4).</summary>
public enum NamesRecord
{
    /// <summary>A resource name.</summary>
    Name,
    /// <summary>0x0000: end of this chunk; ask again with the last name.</summary>
    EndOfChunk,
    /// <summary>0xFFFF: end of the list for this node.</summary>
    EndOfList,
    /// <summary>A length over 64, a length past the end, or no terminator.</summary>
    Invalid,
}

/// <summary>
/// Walks a NAMES_REPLY payload: records <c>[u16 BIG-ENDIAN namelen][name]</c> ended by 0x0000
/// (chunk end) or 0xFFFF (list end). The only big-endian field of the protocol (spec §1.1, §1.7.4).
/// </summary>
public ref struct NamesReader
{
    /// <summary>Marker: end of this chunk.</summary>
    public const ushort ChunkEnd = 0x0000;

    /// <summary>Marker: end of the list.</summary>
    public const ushort ListEnd = 0xFFFF;

    private readonly ReadOnlySpan<byte> _payload;
    private int _offset;

    /// <summary>Starts at the beginning of <paramref name="payload"/>.</summary>
    public NamesReader(ReadOnlySpan<byte> payload)
    {
        _payload = payload;
        _offset = 0;
    }

    /// <summary>Offset within the payload of the next record (or of the bad record after <see cref="NamesRecord.Invalid"/>).</summary>
    public readonly int Offset => _offset;

    /// <summary>Reads the next record; after a marker or <see cref="NamesRecord.Invalid"/> the reader stays put.</summary>
    public NamesRecord Next(out ReadOnlySpan<byte> name)
    {
        name = default;
        if (_payload.Length - _offset < 2)
        {
            return NamesRecord.Invalid;
        }

        var length = BinaryPrimitives.ReadUInt16BigEndian(_payload[_offset..]);
        if (length == ListEnd)
        {
            return NamesRecord.EndOfList;
        }

        if (length == ChunkEnd)
        {
            return NamesRecord.EndOfChunk;
        }

        if (length > WireLimits.MaxResourceNameLength || length > _payload.Length - _offset - 2)
        {
            return NamesRecord.Invalid;
        }

        name = _payload.Slice(_offset + 2, length);
        _offset += 2 + length;
        return NamesRecord.Name;
    }
}

/// <summary>
/// Fills a NAMES_REPLY payload. A record is written only if it and one more 2-byte terminator
/// fit; the payload is always sent at full capacity with a zero tail (spec §1.7.4).
/// </summary>
public ref struct NamesWriter
{
    private readonly Span<byte> _payload;
    private int _offset;

    /// <summary>Writes into <paramref name="payload"/>, normally <see cref="WireLimits.NamesReplyCapacity"/> bytes.</summary>
    public NamesWriter(Span<byte> payload)
    {
        if (payload.Length < 2)
        {
            throw new ArgumentException("A names payload needs room for at least its terminator.", nameof(payload));
        }

        _payload = payload;
        _offset = 0;
    }

    /// <summary>Bytes used so far.</summary>
    public readonly int Written => _offset;

    /// <summary>Adds one name; false (nothing written) when it would not leave room for the terminator.</summary>
    public bool TryAdd(ReadOnlySpan<byte> name)
    {
        if (name.Length is 0 or > WireLimits.MaxResourceNameLength)
        {
            throw new ArgumentOutOfRangeException(nameof(name), name.Length, "A directory name is 1..64 bytes (spec §1.7.4).");
        }

        if (_offset + 2 + name.Length + 2 > _payload.Length)
        {
            return false;
        }

        BinaryPrimitives.WriteUInt16BigEndian(_payload[_offset..], (ushort)name.Length);
        name.CopyTo(_payload[(_offset + 2)..]);
        _offset += 2 + name.Length;
        return true;
    }

    /// <summary>Writes the terminator, zeroes the tail and returns the full payload length.</summary>
    public int Complete(bool endOfList)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_payload[_offset..], endOfList ? NamesReader.ListEnd : NamesReader.ChunkEnd);
        _payload[(_offset + 2)..].Clear();
        return _payload.Length;
    }
}
