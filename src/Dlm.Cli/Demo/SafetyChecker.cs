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
    private readonly Dictionary<string, List<(int Node, LockMode Mode, long Id, long Start)>> _holders = [];
    private readonly List<Interval>? _intervals;
    private readonly List<string> _violations = [];
    private long _events;
    private long _nextId;

    private readonly DemoJournal? _journal;

    /// <summary>
    /// Creates a checker; with <paramref name="recordIntervals"/> it also keeps every holding interval for a
    /// cross-process check, and with <paramref name="journal"/> writes each grant and release to a file at once
    /// (so a node killed with SIGKILL still leaves its record behind).
    /// </summary>
    public SafetyChecker(bool recordIntervals = false, DemoJournal? journal = null)
    {
        _intervals = recordIntervals ? [] : null;
        _journal = journal;
    }

    /// <summary>One holding: a lock on <see cref="Resource"/> in <see cref="Mode"/> from <see cref="Start"/> to <see cref="End"/> (monotonic clock ticks, comparable across processes on one machine).</summary>
    public sealed record Interval(string Resource, int Node, LockMode Mode, long Start, long End);

    /// <summary>The recorded intervals.</summary>
    public IReadOnlyList<Interval> Intervals
    {
        get
        {
            lock (_lock)
            {
                return [.. _intervals ?? []];
            }
        }
    }

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

            foreach (var (otherNode, otherMode, _, _) in holders)
            {
                if (!ModeTables.Compatible(otherMode, mode))
                {
                    _violations.Add($"t={at}: node {node} got {LockModes.ShortName(mode)} on '{resource}' while node {otherNode} held {LockModes.ShortName(otherMode)}");
                }
            }

            var id = ++_nextId;
            holders.Add((node, mode, id, at));
            _journal?.Granted(id, resource, node, mode, at);
            return id;
        }
    }

    /// <summary>The lock is about to be released.</summary>
    public void Released(string resource, long token)
    {
        var at = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            _events++;
            var holders = _holders[resource];
            var index = holders.FindIndex(h => h.Id == token);
            var (node, mode, _, start) = holders[index];
            holders.RemoveAt(index);
            _intervals?.Add(new Interval(resource, node, mode, start, at));
            _journal?.Released(token, at);
        }
    }

    /// <summary>Incompatible overlaps among intervals recorded anywhere (e.g. by several processes).</summary>
    public static List<string> FindOverlaps(IEnumerable<Interval> intervals)
    {
        var violations = new List<string>();
        foreach (var group in intervals.GroupBy(i => i.Resource))
        {
            var active = new List<Interval>();
            foreach (var interval in group.OrderBy(i => i.Start))
            {
                active.RemoveAll(a => a.End <= interval.Start);
                foreach (var other in active)
                {
                    if (!ModeTables.Compatible(other.Mode, interval.Mode))
                    {
                        violations.Add($"'{group.Key}': node {interval.Node} {LockModes.ShortName(interval.Mode)} from t={interval.Start} overlaps node {other.Node} {LockModes.ShortName(other.Mode)} until t={other.End}");
                    }
                }

                active.Add(interval);
            }
        }

        return violations;
    }
}
