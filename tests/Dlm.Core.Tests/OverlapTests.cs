using System.Text;
using Dlm.Protocol;

namespace Dlm.Core.Tests;

/// <summary>FORCEUNLOCK and CANCEL of a request whose master has not answered yet (spec §4.19), with the messages driven by hand.</summary>
public sealed class OverlapTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly DirectoryNodes TwoNodes = new([new DirectoryMember(1), new DirectoryMember(2)]);

    private sealed class Outbox : IEngineOutbox
    {
        private readonly List<(int Node, DlmMessage Message)> _sent = [];

        public List<(int Node, DlmMessage Message)> Sent
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
                _sent.Add((nodeId, message));
            }
        }

        public void SendRcom(int nodeId, uint lockspaceId, in RcomHeader rcom, ReadOnlySpan<byte> payload)
        {
        }
    }

    // A name whose directory node is node 2: node 1's first request sends a LOOKUP there.
    private static byte[] NameOnNode2()
    {
        for (var i = 0; ; i++)
        {
            var name = Encoding.ASCII.GetBytes($"overlap/{i}");
            if (TwoNodes.NodeFor(ResourceHash.Compute(name)) == 2)
            {
                return name;
            }
        }
    }

    private static (LockspaceEngine Engine, Outbox Outbox) Start()
    {
        var outbox = new Outbox();
        return (new LockspaceEngine("ls", 32, outbox: outbox, localNodeId: 1, directory: TwoNodes), outbox);
    }

    [Fact]
    public async Task ForceUnlock_BeforeTheLookupReply_CompletesWithEunlockAndSendsNoRequest()
    {
        var (engine, outbox) = Start();
        await using var _ = engine;
        var name = NameOnNode2();
        var first = engine.RequestAsync(name, LockMode.Exclusive).AsTask();
        var second = engine.RequestAsync(name, LockMode.ProtectedRead).AsTask(); // waits behind the same lookup
        var lookup = Assert.Single(outbox.Sent);
        Assert.Equal((2, MessageType.Lookup), (lookup.Node, lookup.Message.Type));

        var firstLock = engine.OwnLock(lookup.Message.LockId)!;
        var secondLock = engine.OwnLock(lookup.Message.LockId + 1)!;
        Assert.Equal(Errno.Ok, engine.Unlock(firstLock, LockFlags.ForceUnlock)); // remembered (spec §4.19)
        Assert.Equal(Errno.Busy, engine.Unlock(firstLock, LockFlags.ForceUnlock)); // a second one while it waits
        Assert.Equal(Errno.Busy, engine.Cancel(firstLock));
        Assert.Equal(Errno.InProgress, engine.Cancel(secondLock)); // the cancel waits for the answer too

        engine.Receive(2, new DlmMessage { Type = MessageType.LookupReply, LockId = firstLock.Id, NodeId = 2 }, []);

        Assert.Equal(Errno.Unlocked, (await first.WaitAsync(Timeout)).Result);
        Assert.Equal(Errno.Cancelled, (await second.WaitAsync(Timeout)).Result);
        Assert.Single(outbox.Sent); // no REQUEST, no UNLOCK: nothing reached the master
        Assert.Empty(engine.Dump());
    }

    [Fact]
    public async Task LookupReplyWithoutMaster_TheFirstWaiterAsksAgain_ACancelledOneCompletes_TheRestFollowTheNewAnswer()
    {
        var (engine, outbox) = Start();
        await using var _ = engine;
        var name = NameOnNode2();
        var first = engine.RequestAsync(name, LockMode.Exclusive).AsTask();
        var second = engine.RequestAsync(name, LockMode.ProtectedRead).AsTask();
        var third = engine.RequestAsync(name, LockMode.ProtectedRead).AsTask();
        var lookup = Assert.Single(outbox.Sent).Message;
        var thirdLock = engine.OwnLock(lookup.LockId + 2)!;
        Assert.Equal(Errno.InProgress, engine.Cancel(engine.OwnLock(lookup.LockId + 1)!));

        // -1 from a node that is not the directory node (views differ): the waiters ask again (spec §4.17).
        engine.Receive(2, new DlmMessage { Type = MessageType.LookupReply, LockId = lookup.LockId, NodeId = -1 }, []);

        Assert.Equal(Errno.Cancelled, (await second.WaitAsync(Timeout)).Result); // spec §4.19
        var again = outbox.Sent.Skip(1).ToList();
        Assert.Equal([(2, MessageType.Lookup)], again.Select(m => (m.Node, m.Message.Type)));
        Assert.False(first.IsCompleted || third.IsCompleted);

        engine.Receive(2, new DlmMessage { Type = MessageType.LookupReply, LockId = again[0].Message.LockId, NodeId = 1 }, []); // we master it
        Assert.Equal(Errno.Ok, (await first.WaitAsync(Timeout)).Result);
        Assert.False(third.IsCompleted); // PR waits behind the granted EX
        Assert.Equal(QueueStatus.Waiting, thirdLock.Status);
    }

    [Theory]
    [InlineData(Errno.Ok)] // granted on the master meanwhile
    [InlineData(Errno.InProgress)] // queued on the master
    public async Task ForceUnlock_BeforeTheRequestReply_SendsUnlockWhenItComes(int result)
    {
        var (engine, outbox) = Start();
        await using var _ = engine;
        var name = NameOnNode2();
        var request = engine.RequestAsync(name, LockMode.Exclusive, LockFlags.ValBlk).AsTask();
        var lookup = outbox.Sent[0].Message;
        var engineLock = engine.OwnLock(lookup.LockId)!;
        Assert.Equal(Errno.Ok, engine.Unlock(engineLock, LockFlags.ForceUnlock));

        // The directory node is the master: it answers the LOOKUP as a REQUEST (spec §4.17).
        engine.Receive(2, new DlmMessage
        {
            Type = MessageType.RequestReply, RemoteId = engineLock.Id, LockId = 900, Result = result,
            GrantedMode = result == Errno.Ok ? LockMode.Exclusive : LockMode.Invalid, RequestedMode = LockMode.Exclusive,
        }, []);

        Assert.Equal(Errno.Unlocked, (await request.WaitAsync(Timeout)).Result);
        var unlock = outbox.Sent[^1];
        Assert.Equal((2, MessageType.Unlock, 900u, engineLock.Id), (unlock.Node, unlock.Message.Type, unlock.Message.RemoteId, unlock.Message.LockId));
        Assert.Equal(LockFlags.ForceUnlock, unlock.Message.ExFlags & (LockFlags.ForceUnlock | LockFlags.ValBlk)); // no value to write back
        Assert.Empty(engine.Dump());
    }

    // A second cancel while one is in progress is -EBUSY and sends nothing (spec §4.19). Before, it returned
    // -EINPROGRESS, and once the first CANCEL had gone out, a second one went to the master too.
    [Fact]
    public async Task SecondCancel_WhileTheFirstIsInProgress_IsBusy_OneCancelSent()
    {
        var (engine, outbox) = Start();
        await using var _ = engine;
        var request = engine.RequestAsync(NameOnNode2(), LockMode.Exclusive).AsTask();
        var engineLock = engine.OwnLock(outbox.Sent[0].Message.LockId)!;
        Assert.Equal(Errno.InProgress, engine.Cancel(engineLock)); // remembered until the answer
        Assert.Equal(Errno.Busy, engine.Cancel(engineLock));

        // The directory node masters it and answers the LOOKUP as a REQUEST: queued, so the CANCEL goes now.
        engine.Receive(2, new DlmMessage
        {
            Type = MessageType.RequestReply, RemoteId = engineLock.Id, LockId = 900, Result = Errno.InProgress,
            GrantedMode = LockMode.Invalid, RequestedMode = LockMode.Exclusive,
        }, []);
        Assert.Equal(Errno.Busy, engine.Cancel(engineLock)); // sent, its answer not in yet
        Assert.Single(outbox.Sent, m => m.Message.Type == MessageType.Cancel);

        engine.Receive(2, new DlmMessage { Type = MessageType.CancelReply, RemoteId = engineLock.Id, LockId = 900, Result = Errno.Cancelled }, []);
        Assert.Equal(Errno.Cancelled, (await request.WaitAsync(Timeout)).Result);
        Assert.Single(outbox.Sent, m => m.Message.Type == MessageType.Cancel);
    }

    [Fact]
    public async Task ForceUnlock_RequestRefusedMeanwhile_TheRefusalStands()
    {
        var (engine, outbox) = Start();
        await using var _ = engine;
        var name = NameOnNode2();
        var request = engine.RequestAsync(name, LockMode.Exclusive, LockFlags.NoQueue).AsTask();
        var engineLock = engine.OwnLock(outbox.Sent[0].Message.LockId)!;
        Assert.Equal(Errno.Ok, engine.Unlock(engineLock, LockFlags.ForceUnlock));

        engine.Receive(2, new DlmMessage { Type = MessageType.RequestReply, RemoteId = engineLock.Id, LockId = 0, Result = Errno.Again }, []);

        Assert.Equal(Errno.Again, (await request.WaitAsync(Timeout)).Result); // nothing to unlock: the intent is dropped
        Assert.Single(outbox.Sent);
    }

    [Fact]
    public async Task PlainUnlock_WhileTheRequestWaits_IsBusy()
    {
        var (engine, outbox) = Start();
        await using var _ = engine;
        var request = engine.RequestAsync(NameOnNode2(), LockMode.Exclusive).AsTask();
        var engineLock = engine.OwnLock(outbox.Sent[0].Message.LockId)!;
        Assert.Equal(Errno.Busy, engine.Unlock(engineLock));
        Assert.False(request.IsCompleted);
    }

    [Fact]
    public async Task ForceUnlock_ThenTheDirectorySaysNotMaster_TheLocksBehindLookAgain()
    {
        var (engine, outbox) = Start();
        await using var _ = engine;
        var name = NameOnNode2();
        var first = engine.RequestAsync(name, LockMode.Exclusive).AsTask();
        var second = engine.RequestAsync(name, LockMode.ProtectedRead).AsTask(); // behind the first one's lookup
        var firstLock = engine.OwnLock(outbox.Sent[0].Message.LockId)!;
        Assert.Equal(Errno.Ok, engine.Unlock(firstLock, LockFlags.ForceUnlock));

        // The directory node answers the LOOKUP as a REQUEST: it is not the master (spec §4.17).
        engine.Receive(2, new DlmMessage { Type = MessageType.RequestReply, RemoteId = firstLock.Id, Result = Errno.BadRequest }, []);

        Assert.Equal(Errno.Unlocked, (await first.WaitAsync(Timeout)).Result);
        var lookup = outbox.Sent[^1]; // the second lock asks now, instead of waiting for an answer that will not come
        Assert.Equal((2, MessageType.Lookup, firstLock.Id + 1), (lookup.Node, lookup.Message.Type, lookup.Message.LockId));
        engine.Receive(2, new DlmMessage { Type = MessageType.LookupReply, LockId = lookup.Message.LockId, NodeId = 1 }, []); // we master it
        Assert.Equal(Errno.Ok, (await second.WaitAsync(Timeout)).Result);
    }

    [Fact]
    public async Task ForceUnlock_WhileTheLookupIsLostWithItsDirectoryNode_CompletesInRecovery()
    {
        await using var cluster = new InMemoryCluster(3);
        var directory = new DirectoryNodes([new DirectoryMember(1), new DirectoryMember(2), new DirectoryMember(3)]);
        var name = Enumerable.Range(0, 1000).Select(i => Encoding.ASCII.GetBytes($"lost/{i}"))
            .First(n => directory.NodeFor(ResourceHash.Compute(n)) == 3);
        cluster.Fail(3);
        var request = cluster[1].RequestAsync(name, LockMode.Exclusive).AsTask(); // its LOOKUP goes to node 3 and is lost
        var engineLock = cluster[1].OwnLock(1)!;
        Assert.Equal(Errno.Ok, cluster[1].Unlock(engineLock, LockFlags.ForceUnlock));

        await cluster.RecoverAsync([1, 2]);

        Assert.Equal(Errno.Unlocked, (await request.WaitAsync(Timeout)).Result); // not re-sent, not granted
        var (_, result) = await cluster[2].RequestAsync(name, LockMode.Exclusive, LockFlags.NoQueue).AsTask().WaitAsync(Timeout);
        Assert.Equal(Errno.Ok, result);
    }
}
