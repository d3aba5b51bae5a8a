using Dlm.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dlm.Transport;

/// <summary>Transport settings (spec §3, §6.1). Defaults are the kernel's.</summary>
public sealed record TransportOptions
{
    // Largest ReceiveBufferSize and SendBufferSize: each connection allocates a few buffers of these sizes.
    private const int MaxBufferSize = 16 * 1024 * 1024;

    /// <summary>Who we are and where everyone is.</summary>
    public required AddressBook Addresses { get; init; }

    /// <summary>The cluster's single TCP port, for listening and connecting (default 21064).</summary>
    public int Port { get; init; } = WireLimits.DefaultPort;

    /// <summary>Wait after a failed connect before the next attempt (default 1 s, spec §3.3).</summary>
    public TimeSpan ReconnectInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Random spread of the reconnect wait, as a fraction of it (default 0.1 = ±10 %).</summary>
    public double ReconnectJitter { get; init; } = 0.1;

    /// <summary>How long shutdown waits for each peer's EOF after our half-close (default 5 s, spec §3.6).</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Cluster default <c>SO_MARK</c> (0 = none; Linux only, spec §3.7).</summary>
    public uint ClusterMark { get; init; }

    /// <summary>Listen backlog (spec §3.2: 128).</summary>
    public int ListenBacklog { get; init; } = 128;

    /// <summary>Size of one socket read (default 64 KiB, at most 16 MiB); a connection holds a few of these at most.</summary>
    public int ReceiveBufferSize { get; init; } = 64 * 1024;

    /// <summary>
    /// How long a receive thread keeps looking for more data after it drained its socket, before it
    /// sleeps (default 50 µs; zero sleeps at once). An answer that comes back within it is taken
    /// without waking a sleeping thread, which halves a round trip on a VM; the price is up to this
    /// much CPU each time a connection falls quiet.
    /// </summary>
    public TimeSpan ReceiveSpinTime { get; init; } = TimeSpan.FromMicroseconds(50);

    /// <summary>
    /// Most bytes coalesced into one socket write (default 64 KiB, at most 16 MiB). A sender whose commit leaves three
    /// quarters of this waiting, with no write in progress, writes them itself.
    /// </summary>
    public int SendBufferSize { get; init; } = 64 * 1024;

    /// <summary>Time source for reconnect waits and shutdown timeouts.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Seed of the reconnect jitter, so runs are reproducible.</summary>
    public int RandomSeed { get; init; } = 21064;

    /// <summary>Where receive buffers come from (null: the shared pool). Tests count what a connection holds.</summary>
    internal System.Buffers.MemoryPool<byte>? ReceiveMemoryPool { get; init; }

    /// <summary>Logging.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>Throws if a setting is out of range; the message names the allowed range.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Addresses);
        ArgumentOutOfRangeException.ThrowIfLessThan(Port, 1, nameof(Port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(Port, 65535, nameof(Port));
        // Upper bounds a timer can wait (about 49 days); a day is already far beyond any sensible setting.
        ArgumentOutOfRangeException.ThrowIfLessThan(ReconnectInterval, TimeSpan.FromMilliseconds(1), nameof(ReconnectInterval));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ReconnectInterval, TimeSpan.FromDays(1), nameof(ReconnectInterval));
        ArgumentOutOfRangeException.ThrowIfNegative(ReconnectJitter, nameof(ReconnectJitter));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ReconnectJitter, 1.0, nameof(ReconnectJitter));
        ArgumentOutOfRangeException.ThrowIfLessThan(ShutdownTimeout, TimeSpan.Zero, nameof(ShutdownTimeout));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ShutdownTimeout, TimeSpan.FromDays(1), nameof(ShutdownTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(ListenBacklog, 1, nameof(ListenBacklog));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReceiveBufferSize, WireLimits.MaxMessageLength, nameof(ReceiveBufferSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ReceiveBufferSize, MaxBufferSize, nameof(ReceiveBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(SendBufferSize, WireLimits.MaxMessageLength, nameof(SendBufferSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(SendBufferSize, MaxBufferSize, nameof(SendBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReceiveSpinTime, TimeSpan.Zero, nameof(ReceiveSpinTime));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ReceiveSpinTime, TimeSpan.FromMilliseconds(1), nameof(ReceiveSpinTime));
    }
}
