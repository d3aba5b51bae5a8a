using System.Net;

namespace Dlm.Cli.Bench;

/// <summary>
/// The round-trip comparison of <c>dlm bench comms</c>: our ping-pong in blocks that alternate with
/// raw-TCP ping-pong blocks between the same two addresses, so both see the same moment of this
/// machine (its loopback latency drifts twofold within seconds). The ratio is the median of the
/// blocks' own ratios of the p50s; the percentiles pool every block's samples.
/// </summary>
internal static class RoundTrips
{
    private const int Blocks = 10;
    private const int Untimed = 20;  // at the start of each block
    private const int WarmUp = 100;  // before the first block, ours only (the raw side connects afresh per block)

    /// <summary>Both sides' samples and the blocks' ratios; empty when nothing was measured.</summary>
    public sealed record Result(Percentiles Ours, Percentiles Raw, IReadOnlyList<double> Ratios)
    {
        public static Result NotMeasured { get; } = new(new Percentiles(0), new Percentiles(0), []);
    }

    /// <summary>
    /// Runs the blocks; <paramref name="oursBlock"/>(timed, untimed) runs one block of ours and returns
    /// its timed samples.
    /// </summary>
    public static async Task<Result> InterleavedAsync(CommsBenchOptions o, IPAddress[] addresses,
        Func<int, int, Task<Percentiles>> oursBlock, CancellationToken ct)
    {
        var perBlock = Math.Max(1, o.RoundTrips / Blocks);
        var (ours, raw, ratios) = (new Percentiles(perBlock * Blocks), new Percentiles(perBlock * Blocks), new List<double>());
        await oursBlock(0, WarmUp).ConfigureAwait(false);
        for (var block = 0; block < Blocks; block++)
        {
            var rawBlock = await RawTcpBaseline.RoundTripAsync(addresses, o.Port + 1, perBlock, ct, Untimed).ConfigureAwait(false);
            var oursSamples = await oursBlock(perBlock, Untimed).ConfigureAwait(false);
            raw.AddAll(rawBlock);
            ours.AddAll(oursSamples);
            ratios.Add(oursSamples.At(0.5) / rawBlock.At(0.5));
        }

        return new Result(ours, raw, ratios);
    }
}
