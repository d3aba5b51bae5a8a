using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Dlm.Membership;

/// <summary>Reads a provider's queued views, coalescing what is queued into the newest (membership contract rule 4).</summary>
internal static class ViewStream
{
    public static async IAsyncEnumerable<MembershipView> ReadAsync(ChannelReader<MembershipView> reader, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            MembershipView? newest = null;
            var joined = new List<Member>();
            var left = new List<LeftMember>();
            while (reader.TryRead(out var view))
            {
                newest = view;
                joined.AddRange(view.Joined);
                left.AddRange(view.Left);
            }

            if (newest is not null)
            {
                yield return newest with { Joined = joined, Left = left };
            }
        }
    }
}
