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

    /// <summary>Throws <see cref="PlatformNotSupportedException"/> for a mark this platform cannot set.</summary>
    public static void Check(uint mark)
    {
        if (mark != 0 && !OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("SO_MARK is a Linux socket option; set the cluster and node marks to 0 on this platform.");
        }
    }
}
