namespace Dlm.Core;

/// <summary>
/// One shard's resources by name: open addressing with linear probing over a power-of-two array,
/// hashed with <see cref="ResourceNames.Hash"/>. A lookup costs one masked index and, usually, one
/// entry (hash, then the name's bytes); a <c>Dictionary</c> adds a comparer dispatch, a modulo and
/// its bucket array on every lock request (hot path). Removal leaves a tombstone, so removing while
/// enumerating is safe; tombstones go when the table is rebuilt. Not thread-safe: the shard lock
/// guards it.
/// </summary>
internal sealed class ResourceTable
{
    private Entry[] _entries = new Entry[16];
    private int _live;   // entries holding a resource
    private int _filled; // entries holding a resource or a tombstone

    /// <summary>Resources in the table.</summary>
    public int Count => _live;

    /// <summary>The resource named <paramref name="name"/>, if present.</summary>
    public bool TryGetValue(HashedName name, out Resource resource)
    {
        var entries = _entries;
        var mask = entries.Length - 1;
        for (var i = (int)name.Hash & mask; ; i = (i + 1) & mask)
        {
            ref var e = ref entries[i];
            if (e.Key is null)
            {
                resource = null!;
                return false; // never used: the end of this probe sequence
            }

            if (e.Hash == name.Hash && e.Resource is { } found && name.Name.SequenceEqual(e.Key))
            {
                resource = found;
                return true;
            }
        }
    }

    /// <summary>Adds <paramref name="resource"/> under <paramref name="key"/> (not present yet).</summary>
    public void Add(byte[] key, Resource resource)
    {
        if ((_filled + 1) * 4 > _entries.Length * 3)
        {
            Rebuild(_live * 2 >= _entries.Length / 2 ? _entries.Length * 2 : _entries.Length);
        }

        if (Insert(_entries, ResourceNames.Hash(key), key, resource))
        {
            _filled++;
        }

        _live++;
    }

    /// <summary>Removes the resource named <paramref name="key"/>; false if absent.</summary>
    public bool Remove(byte[] key)
    {
        var hash = ResourceNames.Hash(key);
        var mask = _entries.Length - 1;
        for (var i = (int)hash & mask; ; i = (i + 1) & mask)
        {
            ref var e = ref _entries[i];
            if (e.Key is null)
            {
                return false;
            }

            if (e.Hash == hash && e.Resource is not null && key.AsSpan().SequenceEqual(e.Key))
            {
                e.Resource = null; // a tombstone: the key stays, so later probes go on past it
                _live--;
                return true;
            }
        }
    }

    /// <summary>The resources with their keys, in table order; removal meanwhile is allowed.</summary>
    public IEnumerable<(byte[] Key, Resource Resource)> Entries()
    {
        var entries = _entries;
        for (var i = 0; i < entries.Length; i++)
        {
            if (entries[i].Resource is { } resource)
            {
                yield return (entries[i].Key!, resource);
            }
        }
    }

    /// <summary>The resources, in table order.</summary>
    public IEnumerable<Resource> Values => Entries().Select(e => e.Resource);

    // Into a fresh array of `capacity` entries, without tombstones.
    private void Rebuild(int capacity)
    {
        var entries = new Entry[capacity];
        foreach (ref var e in _entries.AsSpan())
        {
            if (e.Resource is not null)
            {
                Insert(entries, e.Hash, e.Key!, e.Resource);
            }
        }

        _entries = entries;
        _filled = _live;
    }

    // True when it took a never-used entry (false: it reused a tombstone).
    private static bool Insert(Entry[] entries, uint hash, byte[] key, Resource resource)
    {
        var mask = entries.Length - 1;
        for (var i = (int)hash & mask; ; i = (i + 1) & mask)
        {
            ref var e = ref entries[i];
            if (e.Resource is null)
            {
                var fresh = e.Key is null;
                e = new Entry(hash, key, resource);
                return fresh;
            }
        }
    }

    private struct Entry(uint hash, byte[] key, Resource? resource)
    {
        public uint Hash = hash;
        public byte[]? Key = key;        // null: never used; set with a null Resource: a tombstone
        public Resource? Resource = resource;
    }
}
