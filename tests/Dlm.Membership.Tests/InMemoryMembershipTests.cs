using System.Net;

namespace Dlm.Membership.Tests;

/// <summary>The in-memory provider keeps the membership contract (docs/membership.md).</summary>
public sealed class InMemoryMembershipTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static async Task<MembershipView> NextAsync(IAsyncEnumerator<MembershipView> views)
    {
        Assert.True(await views.MoveNextAsync().AsTask().WaitAsync(Timeout));
        return views.Current;
    }

    [Fact]
    public async Task Join_EveryMemberSeesTheSameViewsInOrder()
    {
        var service = new InMemoryMembership();
        await using var one = service.Connect(1);
        await using var two = service.Connect(2);
        var first = await one.JoinAsync("ls", CancellationToken.None);
        await using var views = one.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
        var joined = await two.JoinAsync("ls", CancellationToken.None);

        var seen = await NextAsync(views);
        Assert.Equal(1, first.Generation);
        Assert.Equal(joined.Generation, seen.Generation);
        Assert.Equal(2, seen.Generation);
        Assert.Equal([1, 2], seen.Members.Select(m => m.NodeId));
        Assert.Equal([2], seen.Joined.Select(m => m.NodeId));
    }

    [Fact]
    public async Task HeldChanges_AreCoalescedIntoOneView()
    {
        var service = new InMemoryMembership();
        await using var one = service.Connect(1);
        await one.JoinAsync("ls", CancellationToken.None);
        await using var views = one.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
        await using var two = service.Connect(2);
        await using var three = service.Connect(3);
        Task<MembershipView> joinTwo, joinThree;
        using (service.HoldViews())
        {
            joinTwo = two.JoinAsync("ls", CancellationToken.None);
            joinThree = three.JoinAsync("ls", CancellationToken.None);
            Assert.False(joinTwo.IsCompleted);
        }

        var view = await NextAsync(views);
        Assert.Equal(2, view.Generation);
        Assert.Equal([2, 3], view.Joined.Select(m => m.NodeId).Order());
        Assert.Equal(view.Generation, (await joinTwo.WaitAsync(Timeout)).Generation);
        Assert.Equal(view.Generation, (await joinThree.WaitAsync(Timeout)).Generation);
    }

    [Fact]
    public async Task LeaveAndFailure_AreReportedWithTheirReasons_FailureEndsLiveness()
    {
        var service = new InMemoryMembership();
        await using var one = service.Connect(1);
        await using var two = service.Connect(2);
        await using var three = service.Connect(3);
        await Task.WhenAll(one.JoinAsync("ls", CancellationToken.None), two.JoinAsync("ls", CancellationToken.None), three.JoinAsync("ls", CancellationToken.None));
        await using var views = one.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
        while (service.GenerationOf("ls") < 3 || (await NextAsync(views)).Generation < 3)
        {
        }

        await two.LeaveAsync("ls", CancellationToken.None);
        var left = await NextAsync(views);
        Assert.Equal((2, LeaveReason.Leave), (left.Left.Single().Member.NodeId, left.Left.Single().Reason));
        Assert.False(two.Liveness.IsCancellationRequested);

        service.Fail(3);
        var failed = await NextAsync(views);
        Assert.Equal((3, LeaveReason.ProcessDown), (failed.Left.Single().Member.NodeId, failed.Left.Single().Reason));
        Assert.True(three.Liveness.IsCancellationRequested);
        Assert.Equal([1], failed.Members.Select(m => m.NodeId));
    }

    [Fact]
    public async Task StopBarrier_WaitsForEveryMember_AndIsSupersededByANewerView()
    {
        var service = new InMemoryMembership();
        await using var one = service.Connect(1);
        await using var two = service.Connect(2);
        await using var three = service.Connect(3);
        await Task.WhenAll(one.JoinAsync("ls", CancellationToken.None), two.JoinAsync("ls", CancellationToken.None), three.JoinAsync("ls", CancellationToken.None));
        var generation = service.GenerationOf("ls");

        var first = one.AwaitAllStoppedAsync("ls", generation, CancellationToken.None);
        var second = two.AwaitAllStoppedAsync("ls", generation, CancellationToken.None);
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);

        service.Fail(3); // node 3 never stopped: a newer view supersedes the barrier
        Assert.False(await first.WaitAsync(Timeout));
        Assert.False(await second.WaitAsync(Timeout));

        var next = service.GenerationOf("ls");
        var again = one.AwaitAllStoppedAsync("ls", next, CancellationToken.None);
        Assert.True(await Task.WhenAll(again, two.AwaitAllStoppedAsync("ls", next, CancellationToken.None)).WaitAsync(Timeout) is [true, true]);
    }

    [Fact]
    public async Task Reconnect_IsANewIncarnation_TheOldOneFailsFirst()
    {
        var service = new InMemoryMembership();
        await using var one = service.Connect(1);
        await one.JoinAsync("ls", CancellationToken.None);
        await using var views = one.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
        var old = service.Connect(2, IPAddress.Parse("127.0.0.2"));
        var joined = await old.JoinAsync("ls", CancellationToken.None);
        Assert.Equal(joined.Generation, (await NextAsync(views)).Generation);
        var incarnation = joined.Members.Single(m => m.NodeId == 2).Incarnation;

        await using var fresh = service.Connect(2);
        Assert.True(old.Liveness.IsCancellationRequested);
        var down = await NextAsync(views);
        Assert.Equal((2, LeaveReason.ProcessDown), (down.Left.Single().Member.NodeId, down.Left.Single().Reason));

        var rejoined = await fresh.JoinAsync("ls", CancellationToken.None);
        Assert.NotEqual(incarnation, rejoined.Members.Single(m => m.NodeId == 2).Incarnation);
        await old.DisposeAsync();
    }
}
