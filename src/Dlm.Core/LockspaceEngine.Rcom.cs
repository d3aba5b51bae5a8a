using System.Collections.Concurrent;
using Dlm.Protocol;

namespace Dlm.Core;

public sealed partial class LockspaceEngine
{
    private static readonly TimeSpan RecoverTimer = TimeSpan.FromSeconds(5); // spec §5.11
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<(RcomHeader Rcom, byte[] Payload)>> _asyncWaits = new();
    private readonly Dictionary<int, ushort> _slots = []; // node → slot, the low node's table or the copy it served
    private (ulong Id, TaskCompletionSource<(RcomHeader Rcom, byte[] Payload)> Reply)? _syncWait;
    private ulong _rcomSeq;
    private long _asyncId;
    private uint _generation;
    private ushort _ourSlot;
    private long _droppedRcoms;

    /// <summary>The lockspace generation (spec §5.4): 0 until the first recovery.</summary>
    public uint Generation => _generation;

    /// <summary>This node's slot (1-based; 0 = none yet).</summary>
    public int Slot => _ourSlot;

    /// <summary>Recovery messages ignored by the filters of spec §5.5 (stale, early, unmatched).</summary>
    public long DroppedRecoveryMessages => Interlocked.Read(ref _droppedRcoms);

    /// <summary>
    /// A recovery message from <paramref name="from"/> (spec §5.5): STATUS is always answered; other
    /// requests only while recovery has reached the step they belong to; replies only when they match
    /// the request we wait for and this recovery sequence. Everything else is dropped and counted.
    /// </summary>
    public void ReceiveRcom(int from, in RcomHeader rcom, ReadOnlySpan<byte> payload)
    {
        RecoveryStatus status;
        ulong seq;
        bool stopped;
        lock (_recovery)
        {
            status = _status;
            seq = _recoverSeq;
            stopped = _stopped;
        }

        var need = rcom.Type switch
        {
            RcomType.Names or RcomType.NamesReply => RecoveryStatus.Nodes,
            RcomType.Lookup or RcomType.LookupReply or RcomType.Lock or RcomType.LockReply => RecoveryStatus.Dir,
            _ => RecoveryStatus.None,
        };
        var isReply = rcom.Type is RcomType.StatusReply or RcomType.NamesReply or RcomType.LookupReply or RcomType.LockReply;
        if ((stopped && rcom.Type != RcomType.Status) || (isReply && rcom.SeqReply != seq) || (status & need) != need
            || (rcom.Type is RcomType.Lock or RcomType.LockReply && payload.Length < WireLimits.RcomLockSize))
        {
            Interlocked.Increment(ref _droppedRcoms);
            EngineLog.RcomIgnored(_logger, Name, rcom.Type, from, (uint)status);
            return;
        }

        switch (rcom.Type)
        {
            case RcomType.Status:
                AnswerStatus(from, rcom, payload);
                break;
            case RcomType.Names:
                AnswerNames(from, rcom, payload);
                break;
            case RcomType.Lookup:
                AnswerLookup(from, rcom, payload);
                break;
            case RcomType.Lock:
                AnswerLock(from, rcom, payload);
                break;
            case RcomType.StatusReply or RcomType.NamesReply:
                AcceptSyncReply(rcom, payload);
                break;
            default:
                AcceptAsyncReply(rcom, payload);
                break;
        }
    }

    // spec §5.4: rc_result = our status bits; the config, and the slot table when asked for and we have one.
    private void AnswerStatus(int from, in RcomHeader rcom, ReadOnlySpan<byte> payload)
    {
        var wantsSlots = payload.Length >= WireLimits.RcomStatusSize && RcomStatus.Read(payload).WantsSlots;
        RcomHeader reply;
        byte[] config;
        lock (_recovery)
        {
            var slots = wantsSlots && (_status & RecoveryStatus.NodesAll) != 0 ? _slots.OrderBy(s => s.Value).ToArray() : [];
            config = new byte[WireLimits.RcomConfigSize + (slots.Length * WireLimits.RcomSlotSize)];
            new RcomConfig((uint)LvbLength, 0, 0, _ourSlot, (ushort)slots.Length, _generation).Write(config);
            for (var i = 0; i < slots.Length; i++)
            {
                new RcomSlot(slots[i].Key, slots[i].Value).Write(config.AsSpan(WireLimits.RcomConfigSize + (i * WireLimits.RcomSlotSize)));
            }

            reply = new RcomHeader(RcomType.StatusReply, (int)_status, rcom.Id, _recoverSeq, rcom.Seq);
        }

        _outbox?.SendRcom(from, GlobalId, reply, config);
    }

    private void AcceptSyncReply(in RcomHeader rcom, ReadOnlySpan<byte> payload)
    {
        TaskCompletionSource<(RcomHeader, byte[])>? waiter = null;
        lock (_recovery)
        {
            if (_syncWait is { } wait && wait.Id == rcom.Id)
            {
                waiter = wait.Reply;
                _syncWait = null;
            }
        }

        if (waiter is null)
        {
            Interlocked.Increment(ref _droppedRcoms); // a late reply to a request we re-sent or gave up (spec §5.5)
            return;
        }

        waiter.TrySetResult((rcom, payload.ToArray()));
    }

    private void AcceptAsyncReply(in RcomHeader rcom, ReadOnlySpan<byte> payload)
    {
        if (_asyncWaits.TryRemove(rcom.Id, out var waiter))
        {
            waiter.TrySetResult((rcom, payload.ToArray()));
        }
        else
        {
            Interlocked.Increment(ref _droppedRcoms);
        }
    }

    // spec §5.5: one synchronous request (STATUS, NAMES) at a time; no reply within recover_timer → re-sent with a new id.
    private async Task<(RcomHeader Rcom, byte[] Payload)> RequestAsync(int node, RcomType type, byte[] payload, CancellationToken ct)
    {
        while (true)
        {
            var reply = new TaskCompletionSource<(RcomHeader, byte[])>(TaskCreationOptions.RunContinuationsAsynchronously);
            RcomHeader request;
            lock (_recovery)
            {
                ct.ThrowIfCancellationRequested();
                request = new RcomHeader(type, 0, ++_rcomSeq, _recoverSeq, 0);
                _syncWait = (request.Id, reply);
            }

            _outbox?.SendRcom(node, GlobalId, request, payload);
            try
            {
                return await reply.Task.WaitAsync(RecoverTimer, _time, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                EngineLog.RcomTimeout(_logger, Name, type, node);
            }
        }
    }

    // LOOKUP and LOCK (spec §5.5): any number outstanding, matched by our cookie.
    private async Task<(RcomHeader Rcom, byte[] Payload)> RequestMatchedAsync(int node, RcomType type, byte[] payload, CancellationToken ct)
    {
        var id = (ulong)Interlocked.Increment(ref _asyncId);
        var reply = new TaskCompletionSource<(RcomHeader, byte[])>(TaskCreationOptions.RunContinuationsAsynchronously);
        _asyncWaits[id] = reply;
        ulong seq;
        lock (_recovery)
        {
            seq = _recoverSeq;
        }

        try
        {
            _outbox?.SendRcom(node, GlobalId, new RcomHeader(type, 0, id, seq, 0), payload);
            return await reply.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _asyncWaits.TryRemove(id, out _);
        }
    }

    private void SetStatus(RecoveryStatus bits)
    {
        lock (_recovery)
        {
            _status |= bits;
        }
    }

    private int LowNode => Members[0];

    // spec §5.3 step 4: every member answers a STATUS (which also detects its protocol version, spec §2.8);
    // a different LVB length or lockspace flags fails recovery with -EPROTO.
    private async Task PingAsync(CancellationToken ct)
    {
        foreach (var node in Members.Where(n => n != LocalNodeId))
        {
            var (rcom, payload) = await RequestAsync(node, RcomType.Status, new byte[WireLimits.RcomStatusSize], ct).ConfigureAwait(false);
            CheckConfig(node, rcom, payload);
        }
    }

    private void CheckConfig(int node, in RcomHeader rcom, byte[] payload)
    {
        if (rcom.Result == Errno.NoSuchProcess || payload.Length < WireLimits.RcomConfigSize)
        {
            return; // not joined yet: treated as status 0 (spec §5.5)
        }

        var config = RcomConfig.Read(payload);
        if (config.LvbLength != (uint)LvbLength || config.LockspaceFlags != 0)
        {
            throw new DlmException($"Lockspace '{Name}': node {node} has LVB length {config.LvbLength} and flags {config.LockspaceFlags:x}, "
                + $"this node {LvbLength} and 0 (spec §1.7.3 config mismatch, -EPROTO).");
        }
    }

    // spec §5.4: the low node polls every member for bit X, then sets X_ALL; the others poll the low node for X_ALL.
    private async Task BarrierAsync(RecoveryStatus bit, CancellationToken ct)
    {
        SetStatus(bit);
        var all = (RecoveryStatus)((uint)bit << 1);
        if (LowNode == LocalNodeId)
        {
            var reported = new Dictionary<int, RcomConfig>();
            foreach (var node in Members.Where(n => n != LocalNodeId))
            {
                reported[node] = await PollAsync(node, bit, needSlots: false, ct).ConfigureAwait(false);
            }

            if (bit == RecoveryStatus.Nodes)
            {
                AssignSlots(reported);
            }

            SetStatus(all);
            return;
        }

        var served = await PollAsync(LowNode, all, needSlots: bit == RecoveryStatus.Nodes, ct).ConfigureAwait(false);
        if (bit == RecoveryStatus.Nodes)
        {
            CopySlots(served);
        }
    }

    // Poll until the node's status has the bits; back-off +20 ms per round up to 1 s (spec §5.4).
    private async Task<RcomConfig> PollAsync(int node, RecoveryStatus bits, bool needSlots, CancellationToken ct)
    {
        var status = new byte[WireLimits.RcomStatusSize];
        new RcomStatus(needSlots ? RcomStatus.NeedSlots : 0).Write(status);
        var delay = TimeSpan.Zero;
        while (true)
        {
            var (rcom, payload) = await RequestAsync(node, RcomType.Status, status, ct).ConfigureAwait(false);
            CheckConfig(node, rcom, payload);
            var theirs = rcom.Result == Errno.NoSuchProcess ? RecoveryStatus.None : (RecoveryStatus)rcom.Result;
            var config = payload.Length >= WireLimits.RcomConfigSize && rcom.Result != Errno.NoSuchProcess ? RcomConfig.Read(payload) : default;
            if ((theirs & bits) == bits && (!needSlots || config.SlotCount > 0))
            {
                if (needSlots)
                {
                    lock (_recovery)
                    {
                        _slots.Clear();
                        for (var i = 0; i < config.SlotCount && WireLimits.RcomConfigSize + ((i + 1) * WireLimits.RcomSlotSize) <= payload.Length; i++)
                        {
                            var slot = RcomConfig.ReadSlot(payload, i);
                            _slots[slot.NodeId] = slot.Slot;
                        }
                    }
                }

                return config;
            }

            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds + 20, 1000));
            await Task.Delay(delay, _time, ct).ConfigureAwait(false);
        }
    }

    // spec §5.4 (low node): keep existing slots, give the lowest free ones to the rest; generation = max + 1.
    private void AssignSlots(Dictionary<int, RcomConfig> reported)
    {
        lock (_recovery)
        {
            _slots.Clear();
            var claimed = new Dictionary<int, ushort> { [LocalNodeId] = _ourSlot };
            foreach (var (node, config) in reported)
            {
                claimed[node] = config.OurSlot;
            }

            var generation = Math.Max(_generation, reported.Values.Select(c => c.Generation).DefaultIfEmpty(0u).Max());
            foreach (var (node, slot) in claimed.Where(c => c.Value != 0).OrderBy(c => c.Key))
            {
                if (!_slots.ContainsValue(slot))
                {
                    _slots[node] = slot;
                }
            }

            foreach (var node in claimed.Keys.Where(n => !_slots.ContainsKey(n)).Order())
            {
                ushort free = 1;
                while (_slots.ContainsValue(free))
                {
                    free++;
                }

                _slots[node] = free;
            }

            _generation = generation + 1;
            _ourSlot = _slots[LocalNodeId];
        }
    }

    private void CopySlots(RcomConfig served)
    {
        lock (_recovery)
        {
            _generation = served.Generation;
            _ourSlot = _slots.GetValueOrDefault(LocalNodeId);
        }
    }
}
