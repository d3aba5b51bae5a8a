using System.Net.Sockets;

namespace Dlm.Transport;

/// <summary><c>SO_MARK</c> for policy routing (spec §3.7). Linux only.</summary>
internal static class SocketMarks
{
    private const int SolSocket = 1;
    private const int SoMark = 36;

    public static void Apply(Socket socket, uint mark)
    {
        if (mark == 0)
        {
            return;
        }

        Check(mark);
        socket.SetRawSocketOption(SolSocket, SoMark, BitConverter.GetBytes(mark));
    }

    /// <summary>
    /// Sets <paramref name="mark"/> on a throwaway socket: throws <see cref="InvalidOperationException"/> naming the
    /// capability when this process may not (Linux asks for CAP_NET_ADMIN or CAP_NET_RAW), instead of every connect
    /// to a marked peer failing later, retried for ever.
    /// </summary>
    public static void Probe(uint mark)
    {
        if (mark == 0)
        {
            return;
        }

        Check(mark);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            Apply(socket, mark);
        }
        catch (SocketException e)
        {
            throw new InvalidOperationException(
                $"Cannot set SO_MARK {mark} ({e.SocketErrorCode}: {e.Message}): it needs CAP_NET_ADMIN (or CAP_NET_RAW). "
                + "Run the node with that capability, or set the cluster's and the nodes' marks to 0 (spec §3.7).", e);
        }
    }

    /// <summary>Throws <see cref="PlatformNotSupportedException"/> for a mark this platform cannot set.</summary>
    public static void Check(uint mark)
    {
        if (mark != 0 && !OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("SO_MARK is a Linux socket option; set the cluster and node marks to 0 on this platform.");
        }
    }
}
