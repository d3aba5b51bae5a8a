using Dlm.Protocol;

namespace Dlm.Core;

public sealed partial class LockspaceEngine
{
    private readonly Dictionary<int, (ulong Seq, byte[][] Names, int Next)> _namesCursors = []; // NAMES dumps per requester (spec §5.6)

    // spec §5.3 step 2: cached resources and directory records go; the directory is rebuilt from the masters.
    private void DiscardInactive()
    {
        foreach (var shard in _shards)
        {
            using (shard.Lock.EnterScope())
            {
                foreach (var (key, resource) in shard.Resources.Entries())
                {
                    if (resource.Cached)
                    {
                        shard.Resources.Remove(key);
                    }
                }

                shard.Unused = 0;
                shard.Directory.Clear();
            }
        }

        lock (_recovery)
        {
            // Not _newMasters nor _grantAfter: what an aborted recovery made us master of, or flagged for
            // the grant pass, is still owed its LVB recovery and grant pass; a completed one clears them
            // (GrantRecovered), as the kernel's RSB_NEW_MASTER outlives an aborted recovery.
            _namesCursors.Clear();
        }
    }

    private IEnumerable<(Shard Shard, Resource Resource)> ActiveResources() =>
        _shards.SelectMany(s =>
        {
            using (s.Lock.EnterScope())
            {
                return s.Resources.Values.Where(r => r.References > 0).Select(r => (s, r)).ToArray();
            }
        });

    // spec §5.6: a resource we master and whose directory node is us needs its record here.
    private void RecordOwnMasters()
    {
        foreach (var (shard, resource) in ActiveResources())
        {
            using (shard.Lock.EnterScope())
            {
                if (resource.Master == LocalNodeId && _directory!.NodeFor(ResourceHash.Compute(resource.Rsb.Name.Span)) == LocalNodeId)
                {
                    shard.Directory[resource.Rsb.Name.ToArray()] = LocalNodeId;
                }
            }
        }
    }

    // spec §5.6 requester: every other member lists the resources it masters whose directory node is us.
    private async Task RebuildDirectoryAsync(CancellationToken ct)
    {
        foreach (var node in Members.Where(n => n != LocalNodeId))
        {
            var last = Array.Empty<byte>();
            while (true)
            {
                var (_, payload) = await RequestAsync(node, RcomType.Names, last, ct).ConfigureAwait(false);
                if (!RecordNames(node, payload, ref last))
                {
                    break;
                }
            }
        }
    }

    // True when the peer has more (0x0000 chunk end); false at 0xFFFF.
    private bool RecordNames(int master, byte[] payload, ref byte[] last)
    {
        var reader = new NamesReader(payload);
        while (true)
        {
            switch (reader.Next(out var name))
            {
                case NamesRecord.Name:
                    var shard = ShardOf(name);
                    using (shard.Lock.EnterScope())
                    {
                        var records = shard.Directory.GetAlternateLookup<ReadOnlySpan<byte>>();
                        if (records.TryGetValue(name, out var recorded) && recorded == LocalNodeId)
                        {
                            EngineLog.DirectoryConflict(_logger, Name, master); // we master it too: keep ours (spec §5.6)
                        }
                        else
                        {
                            records[name] = master;
                        }
                    }

                    last = name.ToArray();
                    break;
                case NamesRecord.EndOfChunk:
                    return true;
                case NamesRecord.EndOfList:
                    return false;
                default:
                    throw new DlmException($"Lockspace '{Name}': node {master} sent a malformed NAMES_REPLY (spec §1.7.4, -EINVAL).");
            }
        }
    }

    // spec §5.6 sender: the names we master whose directory node is the requester, continuing after the given name.
    private void AnswerNames(int from, in RcomHeader rcom, ReadOnlySpan<byte> payload)
    {
        var lastName = payload.ToArray();
        (ulong Seq, byte[][] Names, int Next) cursor;
        lock (_recovery)
        {
            _namesCursors.TryGetValue(from, out cursor);
        }

        if (lastName.Length <= 1 || cursor.Names is null || cursor.Seq != rcom.Seq)
        {
            var names = ActiveResources()
                .Where(r => r.Resource.Master == LocalNodeId && _directory!.NodeFor(ResourceHash.Compute(r.Resource.Rsb.Name.Span)) == from)
                .Select(r => r.Resource.Rsb.Name.ToArray())
                .ToArray();
            cursor = (rcom.Seq, names, 0);
        }
        else if (cursor.Next == 0 || !cursor.Names[cursor.Next - 1].AsSpan().SequenceEqual(lastName))
        {
            var at = Array.FindIndex(cursor.Names, n => n.AsSpan().SequenceEqual(lastName));
            cursor.Next = at + 1;
        }

        var reply = new byte[WireLimits.NamesReplyCapacity];
        var writer = new NamesWriter(reply);
        var next = cursor.Next;
        while (next < cursor.Names.Length && writer.TryAdd(cursor.Names[next]))
        {
            next++;
        }

        writer.Complete(endOfList: next == cursor.Names.Length);
        lock (_recovery)
        {
            _namesCursors[from] = (cursor.Seq, cursor.Names, next);
        }

        _outbox?.SendRcom(from, GlobalId, new RcomHeader(RcomType.NamesReply, 0, rcom.Id, CurrentSeq, rcom.Seq), reply);
    }

    private ulong CurrentSeq
    {
        get
        {
            lock (_recovery)
            {
                return _recoverSeq;
            }
        }
    }

    // spec §5.8 remaster at the directory node: the first node to ask becomes the master.
    private void AnswerLookup(int from, in RcomHeader rcom, ReadOnlySpan<byte> name)
    {
        if (rcom.Id == 0xFFFF_FFFF)
        {
            return; // the old debug-dump request: no reply (spec §1.7.1)
        }

        int master;
        if (name.Length is 0 or > WireLimits.MaxResourceNameLength || _directory!.NodeFor(ResourceHash.Compute(name)) != LocalNodeId)
        {
            master = Errno.Invalid;
        }
        else
        {
            var shard = ShardOf(name);
            using (shard.Lock.EnterScope())
            {
                master = DirectoryRecord(shard, name, from);
            }
        }

        _outbox?.SendRcom(from, GlobalId, new RcomHeader(RcomType.LookupReply, master, rcom.Id, CurrentSeq, rcom.Seq), []);
    }
}
