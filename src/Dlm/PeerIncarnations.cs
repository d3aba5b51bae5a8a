using Dlm.Messaging;

namespace Dlm;

/// <summary>
/// The node-wide view of which incarnation of each peer midcomms talks to, shared by every lockspace's
/// <see cref="MembershipDriver"/>. midcomms state is per node, not per lockspace: a peer's sequence space
/// ends once, when the incarnation it belongs to fails or is replaced, and that close by configuration
/// (spec §2.9 last row) must happen exactly once, whichever lockspace's view shows the change first.
/// </summary>
/// <remarks>
/// Each lockspace counts its members in midcomms (<see cref="MessagingNode.AddMember"/>, the FIN handshake
/// depends on the count). A close drops the count with the rest of the state, so a later view of another
/// lockspace removing the closed incarnation must not count it down again (it would take the new
/// incarnation's count), nor close again (it would reset the new incarnation's live sequence space), nor
/// add the closed incarnation back if it still lists it. An incarnation is remembered after a clean leave
/// too: a node that left, crashed and came back is closed before it is added again (spec §2.12).
/// Incarnations are compared only for equality: etcd's lease ids are not ordered.
/// </remarks>
internal sealed class PeerIncarnations(MessagingNode messaging) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<int, long> _current = []; // the incarnation whose state midcomms holds
    private readonly Dictionary<int, HashSet<long>> _retired = []; // incarnations closed: their views are stale

    /// <summary>
    /// A lockspace lists <paramref name="nodeId"/> as <paramref name="incarnation"/>: count it, after closing
    /// the state of an older incarnation. Returns false for an incarnation closed already (a stale view),
    /// which is not counted.
    /// </summary>
    public async Task<bool> AddAsync(int nodeId, long incarnation)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (IsRetired(nodeId, incarnation))
            {
                return false;
            }

            if (_current.TryGetValue(nodeId, out var current) && current != incarnation)
            {
                await CloseAsync(nodeId, current).ConfigureAwait(false); // replaced: a new incarnation gets a clean sequence space
            }

            _current[nodeId] = incarnation;
            messaging.AddMember(nodeId);
            return true;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// A lockspace no longer lists <paramref name="nodeId"/> as <paramref name="incarnation"/>; if it
    /// <paramref name="failed"/>, its state is closed (once, by the first lockspace to see it).
    /// </summary>
    public async Task RemoveAsync(int nodeId, long incarnation, bool failed)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_current.TryGetValue(nodeId, out var current) || current != incarnation)
            {
                return; // closed already (the current incarnation is never a retired one): its count went with the close
            }

            messaging.RemoveMember(nodeId);
            if (failed)
            {
                await CloseAsync(nodeId, incarnation).ConfigureAwait(false);
                _current.Remove(nodeId);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Releases the gate (after every driver has ended).</summary>
    public void Dispose() => _gate.Dispose();

    private bool IsRetired(int nodeId, long incarnation) => _retired.TryGetValue(nodeId, out var closed) && closed.Contains(incarnation);

    private Task CloseAsync(int nodeId, long incarnation)
    {
        if (!_retired.TryGetValue(nodeId, out var closed))
        {
            _retired[nodeId] = closed = [];
        }

        closed.Add(incarnation);
        return messaging.CloseNodeAsync(nodeId);
    }
}
