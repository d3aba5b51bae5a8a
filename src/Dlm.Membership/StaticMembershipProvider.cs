using System.Globalization;
using System.Runtime.CompilerServices;

namespace Dlm.Membership;

/// <summary>The static membership at one moment: its generation and members.</summary>
public sealed record StaticMembers(long Generation, IReadOnlyList<Member> Members);

/// <summary>
/// Membership from the cluster file (docs/membership.md "Static"): every listed member is a member of
/// every lockspace; an administrator changes it (<c>dlm member add|remove</c>), which bumps the
/// generation; there is no failure detection. The stop barrier is kept in files of a state directory
/// that every node can read (one machine, or a shared file system); without one, it is the recovery's
/// own status barrier alone, which is enough only while the membership never changes.
/// </summary>
public sealed class StaticMembershipProvider : IMembershipProvider
{
    private readonly Func<StaticMembers> _read;
    private readonly Func<int, CancellationToken, Task>? _evict;
    private readonly string? _stateDirectory;
    private readonly TimeProvider _time;
    private readonly TimeSpan _pollInterval;
    private readonly CancellationTokenSource _liveness = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, StaticMembers> _joined = new(); // the view each join returned

    /// <summary>Creates the provider of node <paramref name="localNodeId"/>.</summary>
    /// <param name="localNodeId">This node.</param>
    /// <param name="read">Reads the current members and generation (e.g. from the cluster file).</param>
    /// <param name="stateDirectory">Where stop markers are kept for the barrier; null for none.</param>
    /// <param name="evict">Removes a node from the static membership (an administrator's action); null if not possible.</param>
    /// <param name="pollInterval">How often changes are looked for (default 250 ms).</param>
    /// <param name="timeProvider">Time source for polling.</param>
    public StaticMembershipProvider(int localNodeId, Func<StaticMembers> read, string? stateDirectory = null,
        Func<int, CancellationToken, Task>? evict = null, TimeSpan? pollInterval = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(read);
        LocalNodeId = localNodeId;
        _read = read;
        _evict = evict;
        _stateDirectory = stateDirectory;
        _pollInterval = pollInterval ?? TimeSpan.FromMilliseconds(250);
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <inheritdoc/>
    public int LocalNodeId { get; }

    /// <inheritdoc/>
    public CancellationToken Liveness => _liveness.Token;

    /// <inheritdoc/>
    public Task<MembershipView> JoinAsync(string lockspace, CancellationToken cancellationToken)
    {
        var now = _read();
        if (!now.Members.Any(m => m.NodeId == LocalNodeId))
        {
            throw new InvalidOperationException($"Node {LocalNodeId} is not a member in the cluster file (generation {now.Generation}); add it with 'dlm member add'.");
        }

        _joined[lockspace] = now;
        return Task.FromResult(new MembershipView(lockspace, now.Generation, Sorted(now.Members), Sorted(now.Members), []));
    }

    /// <inheritdoc/>
    public Task LeaveAsync(string lockspace, CancellationToken cancellationToken)
    {
        _joined.TryRemove(lockspace, out _);
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public async IAsyncEnumerable<MembershipView> ViewsAsync(string lockspace, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var last = _joined.TryGetValue(lockspace, out var joined) ? joined : _read();
        while (true)
        {
            await Task.Delay(_pollInterval, _time, cancellationToken).ConfigureAwait(false);
            StaticMembers now;
            try
            {
                now = _read();
            }
            catch (IOException)
            {
                continue; // the file is being replaced; read it next time
            }

            if (now.Generation == last.Generation)
            {
                continue;
            }

            var before = last.Members.ToDictionary(m => m.NodeId);
            var after = now.Members.ToDictionary(m => m.NodeId);
            var added = now.Members.Where(m => !before.TryGetValue(m.NodeId, out var old) || old.Incarnation != m.Incarnation).ToList();
            var left = last.Members.Where(m => !after.TryGetValue(m.NodeId, out var kept) || kept.Incarnation != m.Incarnation)
                .Select(m => new LeftMember(m, LeaveReason.NodeDown)).ToList();
            last = now;
            if (!after.ContainsKey(LocalNodeId))
            {
                await _liveness.CancelAsync().ConfigureAwait(false); // removed by the administrator: stop acting on locks
                yield break;
            }

            yield return new MembershipView(lockspace, now.Generation, Sorted(now.Members), added, left);
        }
    }

    /// <inheritdoc/>
    public async Task<bool> AwaitAllStoppedAsync(string lockspace, long generation, CancellationToken cancellationToken)
    {
        if (_stateDirectory is null)
        {
            return true;
        }

        var directory = Path.Combine(_stateDirectory, Uri.EscapeDataString(lockspace));
        Directory.CreateDirectory(directory);
        WriteAtomically(Path.Combine(directory, $"stopped.{LocalNodeId}"), generation.ToString(CultureInfo.InvariantCulture));
        while (true)
        {
            StaticMembers now;
            try
            {
                now = _read();
            }
            catch (IOException)
            {
                // The file is being replaced, as in ViewsAsync: look again. Failing the barrier would leave the
                // lockspace stopped until the next configuration change.
                await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (now.Generation > generation)
            {
                return false;
            }

            if (now.Members.All(m => ReadStopped(directory, m.NodeId) >= generation))
            {
                return true;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public Task EvictAsync(int nodeId, CancellationToken cancellationToken) =>
        _evict is null ? throw new NotSupportedException("This static membership has no cluster file to change.") : _evict(nodeId, cancellationToken);

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        _liveness.Dispose();
        return ValueTask.CompletedTask;
    }

    private static long ReadStopped(string directory, int nodeId)
    {
        try
        {
            return long.TryParse(File.ReadAllText(Path.Combine(directory, $"stopped.{nodeId}")), CultureInfo.InvariantCulture, out var value) ? value : 0;
        }
        catch (IOException)
        {
            return 0;
        }
    }

    private static void WriteAtomically(string path, string text)
    {
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temporary, text);
        File.Move(temporary, path, overwrite: true);
    }

    private static Member[] Sorted(IReadOnlyList<Member> members) => [.. members.OrderBy(m => m.NodeId)];
}
