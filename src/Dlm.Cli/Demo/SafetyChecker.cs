using System.Diagnostics;
using Dlm.Core;
using Dlm.Protocol;

namespace Dlm.Cli.Demo;

/// <summary>
/// Records every grant and release against one monotonic clock and proves that no two
/// incompatible locks on a resource were ever held at the same time. A holder reports its grant
/// after the lock was granted and its release before it unlocks, so the recorded intervals lie
/// inside the real ones: an overlap here is a real overlap, never a false alarm.
/// </summary>
internal sealed class SafetyChecker
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, List<(int Node, LockMode Mode, long Id)>> _holders = [];
    private readonly List<string> _violations = [];
    private long _events;
    private long _nextId;

    public long Events => Interlocked.Read(ref _events);

    public IReadOnlyList<string> Violations
    {
        get
        {
            lock (_lock)
            {
                return [.. _violations];
            }
        }
    }

    /// <summary>A lock was granted; returns a token for <see cref="Released"/>.</summary>
    public long Granted(string resource, int node, LockMode mode)
    {
        var at = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            _events++;
            if (!_holders.TryGetValue(resource, out var holders))
            {
                _holders[resource] = holders = [];
            }

            foreach (var (otherNode, otherMode, _) in holders)
            {
                if (!ModeTables.Compatible(otherMode, mode))
                {
                    _violations.Add($"t={at}: node {node} got {LockModes.ShortName(mode)} on '{resource}' while node {otherNode} held {LockModes.ShortName(otherMode)}");
                }
            }

            var id = ++_nextId;
            holders.Add((node, mode, id));
            return id;
        }
    }

    /// <summary>The lock is about to be released.</summary>
    public void Released(string resource, long token)
    {
        lock (_lock)
        {
            _events++;
            _holders[resource].RemoveAll(h => h.Id == token);
        }
    }
}
