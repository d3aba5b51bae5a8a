using Dlm.Protocol;

namespace Dlm;

/// <summary>A lock could not be granted now and the request asked not to wait (NOQUEUE, -EAGAIN).</summary>
public sealed class LockNotAvailableException(string resource, LockMode mode)
    : DlmException($"'{resource}' cannot be granted in {LockModes.ShortName(mode)} now and the request asked not to wait; retry later or wait with LockAsync.")
{
    /// <summary>The resource.</summary>
    public string Resource { get; } = resource;
}

/// <summary>A conversion would deadlock with another conversion (-EDEADLK); the lock keeps its old mode.</summary>
public sealed class ConversionDeadlockException(string resource)
    : DlmException($"Converting the lock on '{resource}' would deadlock with another conversion; it keeps its old mode. Release it and lock again, or convert with ConvDeadlk.")
{
    /// <summary>The resource.</summary>
    public string Resource { get; } = resource;
}

/// <summary>The lock engine answered with an unexpected result.</summary>
public sealed class LockFailedException(string resource, int result)
    : DlmException($"The lock operation on '{resource}' failed with {Errno.NameOf(result) ?? result.ToString(System.Globalization.CultureInfo.InvariantCulture)}.")
{
    /// <summary>The errno result.</summary>
    public int Result { get; } = result;
}

/// <summary>Orphans of the resource exist, but none in the mode asked for (-EAGAIN of an ORPHAN request, spec §4.21).</summary>
public sealed class OrphanModeMismatchException(string resource, LockMode mode)
    : DlmException($"The orphans of '{resource}' are held in other modes than {LockModes.ShortName(mode)}; adopt one in the mode it holds (see Lockspace.Orphans).")
{
    /// <summary>The resource.</summary>
    public string Resource { get; } = resource;
}
