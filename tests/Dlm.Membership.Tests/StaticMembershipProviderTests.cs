using System.Net;

namespace Dlm.Membership.Tests;

/// <summary>The static provider: views from administrator changes, the stop barrier in a state directory.</summary>
public sealed class StaticMembershipProviderTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly string _state = Directory.CreateTempSubdirectory("dlm-static-").FullName;
    private StaticMembers _members = new(1, [Node(1, 0), Node(2, 0), Node(3, 0)]);

    private static Member Node(int id, long since) => new(id, IPAddress.Parse($"127.0.0.{id}"), since);

    public void Dispose() => Directory.Delete(_state, recursive: true);

    private StaticMembershipProvider Provider(int id) =>
        new(id, () => Volatile.Read(ref _members), _state, pollInterval: TimeSpan.FromMilliseconds(10));

    [Fact]
    public async Task Join_AllListedNodesAreMembers_NotListedNodeIsRefused()
    {
        await using var one = Provider(1);
        var view = await one.JoinAsync("ls", CancellationToken.None);
        Assert.Equal([1, 2, 3], view.Members.Select(m => m.NodeId));
        await using var four = Provider(4);
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => four.JoinAsync("ls", CancellationToken.None));
        Assert.Contains("dlm member add", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AdminRemovesAndReAdds_ViewsCarryNodeDownThenANewIncarnation()
    {
        await using var one = Provider(1);
        await one.JoinAsync("ls", CancellationToken.None);
        await using var views = one.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();

        Volatile.Write(ref _members, new StaticMembers(2, [Node(1, 0), Node(2, 0)]));
        Assert.True(await views.MoveNextAsync().AsTask().WaitAsync(Timeout));
        Assert.Equal((2, 3, LeaveReason.NodeDown), (views.Current.Generation, views.Current.Left.Single().Member.NodeId, views.Current.Left.Single().Reason));

        Volatile.Write(ref _members, new StaticMembers(3, [Node(1, 0), Node(2, 0), Node(3, 3)]));
        Assert.True(await views.MoveNextAsync().AsTask().WaitAsync(Timeout));
        Assert.Equal([3], views.Current.Joined.Select(m => m.NodeId));
        Assert.Equal(3, views.Current.Members.Single(m => m.NodeId == 3).Incarnation);
    }

    [Fact]
    public async Task LocalNodeRemoved_LivenessEnds()
    {
        await using var three = Provider(3);
        await three.JoinAsync("ls", CancellationToken.None);
        await using var views = three.ViewsAsync("ls", CancellationToken.None).GetAsyncEnumerator();
        Volatile.Write(ref _members, new StaticMembers(2, [Node(1, 0), Node(2, 0)]));
        Assert.False(await views.MoveNextAsync().AsTask().WaitAsync(Timeout));
        Assert.True(three.Liveness.IsCancellationRequested);
    }

    [Fact]
    public async Task StopBarrier_InStateDirectory_WaitsForAllAndIsSupersededByNewerGeneration()
    {
        await using var one = Provider(1);
        await using var two = Provider(2);
        await using var three = Provider(3);
        var first = one.AwaitAllStoppedAsync("ls", 1, CancellationToken.None);
        var second = two.AwaitAllStoppedAsync("ls", 1, CancellationToken.None);
        Assert.False(first.IsCompleted);
        Assert.True(await three.AwaitAllStoppedAsync("ls", 1, CancellationToken.None).WaitAsync(Timeout));
        Assert.True(await first.WaitAsync(Timeout));
        Assert.True(await second.WaitAsync(Timeout));

        var stuck = one.AwaitAllStoppedAsync("ls", 2, CancellationToken.None);
        Volatile.Write(ref _members, _members with { Generation = 3 });
        Assert.False(await stuck.WaitAsync(Timeout));
    }

    [Fact]
    public async Task StopBarrier_FileBeingReplaced_LooksAgainInsteadOfFailing()
    {
        var reads = 0;
        await using var one = new StaticMembershipProvider(1, () => Interlocked.Increment(ref reads) <= 2
            ? throw new IOException("the file is being replaced")
            : new StaticMembers(1, [Node(1, 0)]), _state);

        Assert.True(await one.AwaitAllStoppedAsync("ls", 1, CancellationToken.None).WaitAsync(Timeout));
        Assert.Equal(3, Volatile.Read(ref reads));
    }
}
