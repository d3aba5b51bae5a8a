using Dlm.Transport;

namespace Dlm.Messaging;

/// <summary>midcomms settings (spec §2.10) on top of the transport's.</summary>
public sealed record MessagingOptions
{
    /// <summary>The transport below.</summary>
    public required TransportOptions Transport { get; init; }

    /// <summary>How long shutdown waits per peer for the FIN handshake to reach CLOSED (default 5 s, spec §2.9).</summary>
    public TimeSpan FinTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long shutdown first waits per peer for its version to be known (default 5 s, spec §2.8).</summary>
    public TimeSpan VersionWaitTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Throws if a setting is out of range.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(Transport);
        Transport.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThan(FinTimeout, TimeSpan.Zero, nameof(FinTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(VersionWaitTimeout, TimeSpan.Zero, nameof(VersionWaitTimeout));
    }
}
