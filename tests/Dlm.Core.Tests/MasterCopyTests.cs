using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>The master side of remote locking (spec §4.9, §4.18, §4.20): messages in, replies, GRANTs and BASTs out.</summary>
public sealed class MasterCopyTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly byte[] Name = "orders/7"u8.ToArray();

    private sealed class Outbox : IEngineOutbox
    {
        public void SendRcom(int nodeId, uint lockspaceId, in RcomHeader rcom, ReadOnlySpan<byte> payload)
        {
        }

        private readonly List<(int Node, DlmMessage Message, byte[] Extra)> _sent = [];

        public List<(int Node, DlmMessage Message, byte[] Extra)> Sent
        {
            get
            {
                lock (_sent)
                {
                    return [.. _sent];
                }
            }
        }

        public void Send(int nodeId, uint lockspaceId, in DlmMessage message, ReadOnlySpan<byte> extra)
        {
            lock (_sent)
            {
                _sent.Add((nodeId, message, extra.ToArray()));
            }
        }
    }

    private static DlmMessage Request(uint ownerLockId, LockMode mode, LockFlags flags = LockFlags.None) => new()
    {
        Type = MessageType.Request, LockId = ownerLockId, RequestedMode = mode, GrantedMode = LockMode.Invalid,
        ExFlags = flags, Asts = AstFlags.Completion | AstFlags.Blocking, Hash = ResourceHash.Compute(Name),
    };

    private static DlmMessage On(MessageType type, uint ownerLockId, uint masterLockId, LockMode mode = LockMode.Invalid, LockFlags flags = LockFlags.None) => new()
    {
        Type = type, LockId = ownerLockId, RemoteId = masterLockId, RequestedMode = mode, GrantedMode = LockMode.Invalid, ExFlags = flags,
    };

    [Fact]
    public async Task Request_Uncontended_RequestReplyGrantedWithOurLockId()
    {
        var outbox = new Outbox();
        await using var engine = new LockspaceEngine("ls", 32, outbox: outbox);
        engine.Receive(2, Request(77, LockMode.Exclusive), Name);

        var (node, reply, extra) = Assert.Single(outbox.Sent);
        Assert.Equal(2, node);
        Assert.Equal(MessageType.RequestReply, reply.Type);
        Assert.Equal(Errno.Ok, reply.Result);
        Assert.Equal(77u, reply.RemoteId);
        Assert.True(reply.LockId >= 1);
        Assert.Equal(LockMode.Exclusive, reply.GrantedMode);
        Assert.Empty(extra); // no VALBLK: no LVB bytes (6.6+, spec §9.1.1)
        Assert.Equal(1, engine.ResourceCount);
    }

    // A kernel owner overwrites its lock's low flag bits with m_flags of every reply: a user-space lock
    // (libdlm) must get its USER bit back, or the kernel takes it for a kernel lock (spec §1.5, §9.1.3).
    [Fact]
    public async Task UserLock_SharedFlagsEchoedInReplyGrantAndBast()
    {
        var outbox = new Outbox();
        await using var engine = new LockspaceEngine("ls", 32, outbox: outbox);
        var (local, _) = await engine.RequestAsync(Name, LockMode.Exclusive);
        var request = Request(5, LockMode.ProtectedRead);
        request.Flags = SharedLockFlags.User;
        engine.Receive(2, request, Name);
        var waiting = Request(6, LockMode.Exclusive);
        waiting.Flags = SharedLockFlags.User;
        engine.Receive(2, waiting, Name);
        engine.Unlock(local);

        Assert.NotEmpty(outbox.Sent);
        Assert.All(outbox.Sent, m => Assert.Equal(SharedLockFlags.User, m.Message.Flags));
        Assert.Contains(outbox.Sent, m => m.Message.Type == MessageType.Grant);
        Assert.Contains(outbox.Sent, m => m.Message.Type == MessageType.Bast);
    }

    [Fact]
    public async Task Request_BlockedByLocalHolder_InProgressThenBastLocallyThenGrantMessage()
    {
        var outbox = new Outbox();
        await using var engine = new LockspaceEngine("ls", 32, outbox: outbox);
        var bast = new TaskCompletionSource<LockMode>(TaskCreationOptions.RunContinuationsAsynchronously);
        var (local, _) = await engine.RequestAsync(Name, LockMode.Exclusive, LockFlags.ValBlk, (_, m) => bast.TrySetResult(m));

        engine.Receive(2, Request(5, LockMode.ProtectedRead, LockFlags.ValBlk), Name);
        var reply = Assert.Single(outbox.Sent);
        Assert.Equal(Errno.InProgress, reply.Message.Result);
        Assert.Equal(new byte[32], reply.Extra); // a new master copy's LVB is zero-filled and rides with the reply
        Assert.Equal(LockMode.ProtectedRead, await bast.Task.WaitAsync(Timeout));

        local.ValueBlock![0] = 9;
        engine.Unlock(local); // EX with VALBLK writes the LVB back, then the remote PR is granted
        var grant = outbox.Sent[^1];
        Assert.Equal((2, MessageType.Grant), (grant.Node, grant.Message.Type));
        Assert.Equal(5u, grant.Message.RemoteId);
        Assert.Equal(LockMode.ProtectedRead, grant.Message.GrantedMode);
        Assert.Equal(9, grant.Extra[0]);
    }

    [Fact]
    public async Task LocalRequest_BlockedByRemoteHolder_BastMessageToOwner()
    {
        var outbox = new Outbox();
        await using var engine = new LockspaceEngine("ls", 0, outbox: outbox);
        engine.Receive(3, Request(40, LockMode.ProtectedWrite), Name);
        var masterId = outbox.Sent[0].Message.LockId;

        var waiting = engine.RequestAsync(Name, LockMode.Exclusive).AsTask();
        var bast = outbox.Sent[^1];
        Assert.Equal((3, MessageType.Bast, LockMode.Exclusive, 40u), (bast.Node, bast.Message.Type, bast.Message.BastMode, bast.Message.RemoteId));

        engine.Receive(3, On(MessageType.Unlock, 40, masterId), []);
        var unlockReply = outbox.Sent.Single(s => s.Message.Type == MessageType.UnlockReply);
        Assert.Equal(Errno.Unlocked, unlockReply.Message.Result);
        var (granted, result) = await waiting.WaitAsync(Timeout);
        Assert.Equal((Errno.Ok, LockMode.Exclusive), (result, granted.Mode));
    }

    [Fact]
    public async Task Convert_DownConversion_NoReply_UpConversionQueuedGetsReplyThenGrant()
    {
        var outbox = new Outbox();
        await using var engine = new LockspaceEngine("ls", 0, outbox: outbox);
        engine.Receive(2, Request(1, LockMode.Exclusive), Name);
        var id = outbox.Sent[0].Message.LockId;

        engine.Receive(2, On(MessageType.Convert, 1, id, LockMode.Null), []);
        Assert.Single(outbox.Sent); // down-conversion: no CONVERT_REPLY (spec §4.9)

        var (reader, _) = await engine.RequestAsync(Name, LockMode.ProtectedRead);
        engine.Receive(2, On(MessageType.Convert, 1, id, LockMode.Exclusive), []);
        var reply = outbox.Sent[^1];
        Assert.Equal((MessageType.ConvertReply, Errno.InProgress), (reply.Message.Type, reply.Message.Result));

        engine.Unlock(reader);
        var grant = outbox.Sent[^1];
        Assert.Equal((MessageType.Grant, LockMode.Exclusive), (grant.Message.Type, grant.Message.GrantedMode));
    }

    [Fact]
    public async Task Cancel_WaitingRemoteRequest_CancelReplyAndCopyGone()
    {
        var outbox = new Outbox();
        await using var engine = new LockspaceEngine("ls", 0, outbox: outbox);
        await engine.RequestAsync(Name, LockMode.Exclusive);
        engine.Receive(4, Request(8, LockMode.Exclusive), Name);
        var id = outbox.Sent[^1].Message.LockId;

        engine.Receive(4, On(MessageType.Cancel, 8, id), []);
        var reply = outbox.Sent[^1];
        Assert.Equal((MessageType.CancelReply, Errno.Cancelled), (reply.Message.Type, reply.Message.Result));

        engine.Receive(4, On(MessageType.Cancel, 8, id), []); // gone now: stub reply
        Assert.Equal((MessageType.CancelReply, Errno.NoEntry), (outbox.Sent[^1].Message.Type, outbox.Sent[^1].Message.Result));
    }

    [Theory]
    [InlineData(2, 99u)] // wrong owner lock id (spec §4.20 remid check)
    [InlineData(3, 1u)]  // another node's copy
    public async Task Unlock_CopyNotTheSenders_StubReplyWithEnoentAndStateIntact(int from, uint ownerLockId)
    {
        var outbox = new Outbox();
        await using var engine = new LockspaceEngine("ls", 0, outbox: outbox);
        engine.Receive(2, Request(1, LockMode.Exclusive), Name);
        var id = outbox.Sent[0].Message.LockId;

        engine.Receive(from, On(MessageType.Unlock, ownerLockId, id), []);
        var stub = outbox.Sent[^1];
        Assert.Equal((from, MessageType.UnlockReply, Errno.NoEntry), (stub.Node, stub.Message.Type, stub.Message.Result));
        Assert.Equal(1, engine.DroppedMessages);
        Assert.Equal(1, engine.ResourceCount); // the real holder still holds it
        var (_, result) = await engine.RequestAsync(Name, LockMode.ProtectedRead, LockFlags.NoQueue);
        Assert.Equal(Errno.Again, result);
    }

    [Fact]
    public async Task Request_NoQueueRefused_AgainAndNoCopyKept()
    {
        var outbox = new Outbox();
        await using var engine = new LockspaceEngine("ls", 0, outbox: outbox);
        var (local, _) = await engine.RequestAsync(Name, LockMode.Exclusive);
        engine.Receive(2, Request(3, LockMode.ProtectedRead, LockFlags.NoQueue), Name);
        Assert.Equal(Errno.Again, outbox.Sent[^1].Message.Result);
        engine.Unlock(local);
        Assert.Equal(0, engine.ResourceCount);
    }
}
