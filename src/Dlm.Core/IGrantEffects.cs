using Dlm.Protocol;

namespace Dlm.Core;

/// <summary>
/// What the master's grant logic produces, in order (spec §4.9–§4.10): completions for the
/// operation at hand and for locks granted later, and blocking callbacks. For a master copy the
/// caller turns them into GRANT / BAST / *_REPLY messages; for a local lock into callbacks.
/// </summary>
public interface IGrantEffects
{
    /// <summary>A queued lock (WAITING or CONVERT) was granted later (GRANT message / completion 0).</summary>
    void Granted(Lkb lkb);

    /// <summary><paramref name="lkb"/> should release or down-convert: another lock waits for <paramref name="mode"/>.</summary>
    void Blocking(Lkb lkb, LockMode mode);
}
