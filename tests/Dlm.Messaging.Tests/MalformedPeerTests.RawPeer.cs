using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Dlm.Protocol;

namespace Dlm.Messaging.Tests;

public sealed partial class MalformedPeerTests
{
    /// <summary>
    /// A hand-driven peer: a plain socket bound to a configured peer address, connected to a
    /// messaging node on the cluster port. It writes bytes built with <see cref="PacketWriter"/> and
    /// cuts what the node sends into frames by <c>h_length</c>.
    /// </summary>
    private sealed class RawPeer : IDisposable
    {
        private readonly Socket _socket;
        private byte[] _buffer = new byte[64 * 1024];
        private int _start, _end;

        private RawPeer(Socket socket)
        {
            _socket = socket;
            LocalAddress = ((IPEndPoint)socket.LocalEndPoint!).Address;
            RemoteAddress = ((IPEndPoint)socket.RemoteEndPoint!).Address;
        }

        /// <summary>The address this peer's socket is bound to (node 2's).</summary>
        public IPAddress LocalAddress { get; }

        /// <summary>The address of node 1, at the other end.</summary>
        public IPAddress RemoteAddress { get; }

        public static async Task<RawPeer> ConnectAsync(IPAddress from, IPAddress to)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                socket.Bind(new IPEndPoint(from, 0));
                await socket.ConnectAsync(new IPEndPoint(to, WireLimits.DefaultPort)).WaitAsync(Timeout);
                return new RawPeer(socket);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        /// <summary>A listening socket on node 2's address and the cluster port, for connections node 1 makes.</summary>
        public static Socket Listen(IPAddress address)
        {
            var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            listener.Bind(new IPEndPoint(address, WireLimits.DefaultPort));
            listener.Listen(4);
            return listener;
        }

        /// <summary>The next connection node 1 makes to <paramref name="listener"/>.</summary>
        public static async Task<RawPeer> AcceptAsync(Socket listener) => new(await listener.AcceptAsync().WaitAsync(Timeout));

        /// <summary><see cref="SendAsync"/> on the caller's thread, for a caller that holds a thread-affine lock.</summary>
        public void Send(params byte[][] messages)
        {
            var bytes = messages.SelectMany(m => m).ToArray();
            for (var sent = 0; sent < bytes.Length;)
            {
                sent += _socket.Send(bytes.AsSpan(sent), SocketFlags.None);
            }
        }

        /// <summary>Writes the messages back to back in one send.</summary>
        public async Task SendAsync(params byte[][] messages)
        {
            var bytes = messages.SelectMany(m => m).ToArray();
            for (var sent = 0; sent < bytes.Length;)
            {
                sent += await _socket.SendAsync(bytes.AsMemory(sent), SocketFlags.None);
            }
        }

        /// <summary>The next whole message from the node, or null when it closed the connection (EOF or reset).</summary>
        public async Task<byte[]?> ReadFrameAsync(string what)
        {
            using var cts = new CancellationTokenSource(Timeout);
            while (true)
            {
                if (_end - _start >= WireLimits.HeaderSize)
                {
                    var length = BinaryPrimitives.ReadUInt16LittleEndian(_buffer.AsSpan(_start + DlmHeader.LengthOffset));
                    Assert.InRange(length, WireLimits.HeaderSize, WireLimits.MaxMessageLength);
                    if (_end - _start >= length)
                    {
                        var frame = _buffer.AsSpan(_start, length).ToArray();
                        _start += length;
                        return frame;
                    }
                }

                if (_end == _buffer.Length)
                {
                    Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                    (_start, _end) = (0, _end - _start);
                }

                int n;
                try
                {
                    n = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cts.Token);
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionAborted)
                {
                    return null;
                }
                catch (OperationCanceledException)
                {
                    throw new TimeoutException($"{what}: nothing more after {Timeout}");
                }

                if (n == 0)
                {
                    Assert.True(_start == _end, $"{what}: the node closed the connection in the middle of a message");
                    return null;
                }

                _end += n;
            }
        }

        /// <summary>Every message until the node closes the connection.</summary>
        public async Task<List<byte[]>> ReadUntilClosedAsync(string what)
        {
            var frames = new List<byte[]>();
            while (await ReadFrameAsync(what) is { } frame)
            {
                frames.Add(frame);
            }

            return frames;
        }

        /// <summary>Resets the connection (RST), as a crashed peer's kernel would.</summary>
        public void Abort()
        {
            _socket.LingerState = new LingerOption(true, 0);
            _socket.Dispose();
        }

        public void Dispose() => _socket.Dispose();
    }

    /// <summary>Messages the raw peer (node 2 unless told otherwise) sends.</summary>
    private static class Wire
    {
        public static byte[] Status(int node = RawNode, uint version = ProtocolVersion.V32)
        {
            var buffer = new byte[PacketWriter.RcomLength(WireLimits.RcomStatusSize)];
            PacketWriter.WriteRcom(buffer, TestCluster.Lockspace, node, new RcomHeader(RcomType.Status, 0, 1, 1, 0),
                new byte[WireLimits.RcomStatusSize], version);
            return buffer;
        }

        /// <summary>A plain DLM_MSG carrying <paramref name="counter"/> in <c>m_lkid</c> (what <see cref="Recorder"/> counts).</summary>
        public static byte[] Plain(uint counter, int node = RawNode, uint version = ProtocolVersion.V32)
        {
            var buffer = new byte[PacketWriter.MessageLength(1)];
            PacketWriter.WriteMessage(buffer, TestCluster.Lockspace, node, TestCluster.Counted(counter), "r"u8, version);
            return buffer;
        }

        /// <summary>An OPTS-wrapped DLM_MSG; the inner <c>h_nodeid</c> can differ from the envelope's.</summary>
        public static byte[] Wrapped(uint seq, uint counter, int node = RawNode, int? innerNode = null)
        {
            var inner = PacketWriter.MessageLength(1);
            var buffer = new byte[PacketWriter.OptsLength(inner)];
            PacketWriter.WriteMessage(buffer.AsSpan(WireLimits.OptsSize), TestCluster.Lockspace, innerNode ?? node, TestCluster.Counted(counter), "r"u8);
            PacketWriter.WriteOptsHeader(buffer, seq, node, DlmCommand.Message, inner);
            return buffer;
        }

        /// <summary>An OPTS-wrapped DLM_FIN.</summary>
        public static byte[] Fin(uint seq, int node = RawNode)
        {
            var buffer = new byte[WireLimits.OptsSize + WireLimits.HeaderSize];
            PacketWriter.WriteWrappedFin(buffer, seq, node);
            return buffer;
        }

        /// <summary>A cumulative DLM_ACK of everything before <paramref name="nextExpected"/>.</summary>
        public static byte[] Ack(uint nextExpected, int node = RawNode)
        {
            var buffer = new byte[WireLimits.HeaderSize];
            PacketWriter.WriteAck(buffer, nextExpected, node);
            return buffer;
        }

        /// <summary>A wrapped message whose <c>o_optlen</c> is patched.</summary>
        public static byte[] WithOptionsLength(byte[] wrapped, ushort optlen)
        {
            var copy = (byte[])wrapped.Clone();
            BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(18), optlen);
            return copy;
        }

        /// <summary>A wrapped message whose inner <c>h_length</c> is patched.</summary>
        public static byte[] WithInnerLength(byte[] wrapped, ushort length)
        {
            var copy = (byte[])wrapped.Clone();
            BinaryPrimitives.WriteUInt16LittleEndian(copy.AsSpan(WireLimits.OptsSize + DlmHeader.LengthOffset), length);
            return copy;
        }

        /// <summary>A wrapped message with one 32-bit field of the inner message (offset from its start) patched.</summary>
        public static byte[] WithInnerField(byte[] wrapped, int field, int value)
        {
            var copy = (byte[])wrapped.Clone();
            BinaryPrimitives.WriteInt32LittleEndian(copy.AsSpan(WireLimits.OptsSize + field), value);
            return copy;
        }

        /// <summary>Just a header claiming <c>h_length</c> = <paramref name="length"/>.</summary>
        public static byte[] HeaderOnly(int length, int node = RawNode)
        {
            var buffer = new byte[WireLimits.HeaderSize];
            new DlmHeader(ProtocolVersion.V32, TestCluster.Lockspace, node, 0, DlmCommand.Message).Write(buffer);
            BinaryPrimitives.WriteUInt16LittleEndian(buffer.AsSpan(DlmHeader.LengthOffset), (ushort)length);
            return buffer;
        }

        public static DlmHeader Header(byte[] frame) => DlmHeader.Read(frame);

        /// <summary>The command carried: <c>o_nextcmd</c> for OPTS, else <c>h_cmd</c>.</summary>
        public static DlmCommand Kind(byte[] frame) =>
            Header(frame).Command == DlmCommand.Opts ? (DlmCommand)frame[16] : Header(frame).Command;
    }
}
