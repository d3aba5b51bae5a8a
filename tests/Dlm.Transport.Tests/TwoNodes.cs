namespace Dlm.Transport.Tests;

/// <summary>
/// Nodes 1 and 2 started on a fresh subnet with <see cref="TestNet.Options"/>, node 1's options adjusted
/// by the caller, each with a <see cref="RecordingHandler"/>. Disposing stops node 2, then node 1, as two
/// <c>await using</c> declarations in that order would.
/// </summary>
internal sealed class TwoNodes : IAsyncDisposable
{
    private TwoNodes(TransportOptions options1, Transport t1, RecordingHandler h1, Transport t2, RecordingHandler h2) =>
        (Options1, T1, H1, T2, H2) = (options1, t1, h1, t2, h2);

    public TransportOptions Options1 { get; }

    public Transport T1 { get; }

    public RecordingHandler H1 { get; }

    public Transport T2 { get; }

    public RecordingHandler H2 { get; }

    public static async Task<TwoNodes> StartAsync(Func<TransportOptions, TransportOptions>? node1 = null)
    {
        var ip = TestNet.AllocateAddresses(2);
        var options1 = node1 is null ? TestNet.Options(1, ip) : node1(TestNet.Options(1, ip));
        var (h1, h2) = (new RecordingHandler(1), new RecordingHandler(2));
        var t1 = TestNet.Start(options1, h1);
        try
        {
            return new TwoNodes(options1, t1, h1, TestNet.Start(TestNet.Options(2, ip), h2), h2);
        }
        catch
        {
            // Node 2 did not start: node 1 must not outlive the test.
            await t1.DisposeAsync();
            throw;
        }
    }

    public void Deconstruct(out Transport t1, out RecordingHandler h1, out Transport t2, out RecordingHandler h2) =>
        (t1, h1, t2, h2) = (T1, H1, T2, H2);

    public async ValueTask DisposeAsync()
    {
        await T2.DisposeAsync();
        await T1.DisposeAsync();
    }
}
