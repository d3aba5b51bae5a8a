using System.Net;
using System.Net.Sockets;
using Dlm.Protocol;

namespace Dlm.Transport.Tests;

/// <summary>
/// Loopback plumbing for transport tests: a fresh 127.S.T.x subnet per call (S in 150..199, so
/// it never collides with the Messaging tests' 127.20.x.y upward), raw sockets bound to a chosen
/// loopback address, frames, and transports built on the cluster's single port.
/// </summary>
internal static class TestNet
{
    public const int Port = WireLimits.DefaultPort;
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private const int FirstSubnet = 150 * 256;
    private const int SubnetCount = 50 * 256;
    private static int _next = -1;

    /// <summary>127.S.T.1 .. 127.S.T.count on a subnet no other test uses.</summary>
    public static IPAddress[] AllocateAddresses(int count)
    {
        var subnet = FirstSubnet + (Interlocked.Increment(ref _next) % SubnetCount);
        return Enumerable.Range(1, count).Select(i => new IPAddress([127, (byte)(subnet >> 8), (byte)subnet, (byte)i])).ToArray();
    }

    /// <summary>A book where node i has address[i - 1].</summary>
    public static AddressBook Book(int localNodeId, IPAddress[] addresses, uint markOfNode1 = 0) =>
        new(localNodeId, addresses.Select((a, i) => new NodeAddress(i + 1, [a], i == 0 ? markOfNode1 : 0)));

    public static TransportOptions Options(int localNodeId, IPAddress[] addresses) => new()
    {
        Addresses = Book(localNodeId, addresses),
        ReconnectInterval = TimeSpan.FromMilliseconds(50),
        ShutdownTimeout = TimeSpan.FromSeconds(1),
    };

    /// <summary>Creates and starts a transport for <paramref name="localNodeId"/>.</summary>
    public static Transport Start(TransportOptions options, ITransportHandler handler)
    {
        var transport = new Transport(options, handler);
        transport.Start();
        return transport;
    }

    /// <summary>A frame the transport treats as opaque: header with <c>h_length</c>, counter in <c>h_lockspace</c>, patterned body.</summary>
    public static byte[] Frame(int nodeId, uint counter, int length)
    {
        var frame = new byte[length];
        new DlmHeader(ProtocolVersion.V32, counter, nodeId, (ushort)length, DlmCommand.Message).Write(frame);
        for (var i = WireLimits.HeaderSize; i < length; i++)
        {
            frame[i] = (byte)(counter + (uint)i);
        }

        return frame;
    }

    /// <summary>The counter <see cref="Frame"/> put in <c>h_lockspace</c>.</summary>
    public static uint CounterOf(byte[] frame) => DlmHeader.Read(frame).LockspaceOrSeq;

    /// <summary>Queues <paramref name="frame"/> to <paramref name="to"/> the way midcomms does: reserve under the lock, fill, commit.</summary>
    public static void Send(Transport transport, int to, byte[] frame, bool retained = false, uint sequence = 0)
    {
        var peer = transport.GetPeer(to);
        SendSlot slot;
        using (peer.SyncRoot.EnterScope())
        {
            slot = peer.ReserveLocked(frame.Length, retained, sequence);
        }

        frame.CopyTo(slot.Span);
        peer.Commit(slot);
    }

    /// <summary>A plain socket bound to <paramref name="from"/> (port 0), connected to <paramref name="to"/> on the cluster port.</summary>
    public static async Task<Socket> ConnectRawAsync(IPAddress from, IPAddress to)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(from, 0));
            await socket.ConnectAsync(new IPEndPoint(to, Port)).WaitAsync(Timeout);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Reads (discarding data) until the other side closes: EOF or reset. Throws with <paramref name="what"/> on timeout.</summary>
    public static async Task ExpectClosedAsync(Socket socket, string what)
    {
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
            {
            }
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
        {
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{what}: the connection was still open after {Timeout}");
        }
    }

    /// <summary>Reads exactly <paramref name="buffer"/>'s length; fails if the connection closes first or on timeout.</summary>
    public static async Task ReadExactlyAsync(Socket socket, byte[] buffer)
    {
        using var cts = new CancellationTokenSource(Timeout);
        for (var got = 0; got < buffer.Length;)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None, cts.Token);
            Assert.True(read > 0, $"the connection closed after {got} of {buffer.Length} bytes");
            got += read;
        }
    }

    /// <summary>A connect from <paramref name="from"/> to <paramref name="to"/> is refused, or accepted and closed at once.</summary>
    public static async Task ExpectRefusedOrClosedAsync(IPAddress from, IPAddress to, string what)
    {
        Socket socket;
        try
        {
            socket = await ConnectRawAsync(from, to);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
        {
            return;
        }

        using (socket)
        {
            await ExpectClosedAsync(socket, what);
        }
    }

    /// <summary>Writes <paramref name="data"/> in chunks whose sizes <paramref name="nextChunk"/> chooses (one send per chunk).</summary>
    public static async Task SendChunkedAsync(Socket socket, byte[] data, Func<int> nextChunk)
    {
        for (var offset = 0; offset < data.Length;)
        {
            var n = Math.Min(nextChunk(), data.Length - offset);
            offset += await socket.SendAsync(data.AsMemory(offset, n), SocketFlags.None);
        }
    }

    /// <summary>Resets a socket (RST) and disposes it.</summary>
    public static void Abort(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }

        socket.Dispose();
    }
}
