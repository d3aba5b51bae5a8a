using Dlm.Cli.Bench;
using Microsoft.Extensions.Time.Testing;

namespace Dlm.Cli.Tests;

public sealed class WorkWindowTests
{
    [Fact]
    public void OpensWhenTheLastWorkerStarts_ClosesItsLengthLater()
    {
        var time = new FakeTimeProvider();
        using var window = new WorkWindow(3, TimeSpan.FromSeconds(2), time);
        window.Started();
        window.Started();
        time.Advance(TimeSpan.FromSeconds(5)); // a slow thread pool: two started, the third not yet
        Assert.False(window.HasOpened);
        Assert.False(window.Closed.IsCancellationRequested);
        Assert.Equal(TimeSpan.Zero, window.Elapsed);

        window.Started();
        Assert.True(window.HasOpened);
        time.Advance(TimeSpan.FromSeconds(1.5));
        Assert.False(window.Closed.IsCancellationRequested);
        Assert.Equal(TimeSpan.FromSeconds(1.5), window.Elapsed);

        time.Advance(TimeSpan.FromSeconds(0.5));
        Assert.True(window.Closed.IsCancellationRequested);
        Assert.True(window.HasOpened);
    }

    [Fact]
    public void Close_BeforeItOpened_ClosesIt()
    {
        using var window = new WorkWindow(2, TimeSpan.FromSeconds(2), new FakeTimeProvider());
        window.Started();
        window.Close();
        Assert.True(window.Closed.IsCancellationRequested);
        Assert.False(window.HasOpened);
    }

    [Fact]
    public void NoWorkers_Refused() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new WorkWindow(0, TimeSpan.FromSeconds(1)));
}
