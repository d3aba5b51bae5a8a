using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Dlm.Protocol;

namespace Dlm.Cli.Bench;

/// <summary>
/// The baseline measured in the same run: the same topology, message sizes and framing over
/// plain TCP sockets (one per ordered pair, 64 KiB coalesced writes), with none of midcomms.
/// </summary>
internal static class RawTcpBaseline
{
    /// <summary>
    /// Every node sends <paramref name="messages"/> to every other; returns the elapsed time and the
    /// process's CPU time over the same span (connections are made before, closed after).
    /// </summary>
    public static async Task<(TimeSpan Elapsed, CpuTime Cpu)> ThroughputAsync(IPAddress[] addresses, int port, long messages, CancellationToken ct)
    {
        var n = addresses.Length;
        var listeners = addresses.Select(a => Listen(a, port)).ToArray();
        try
        {
            var receivers = new List<Task>();
            var senders = new List<(Socket Socket, int From)>();
            for (var to = 0; to < n; to++)
            {
                for (var from = 0; from < n; from++)
                {
                    if (from == to)
                    {
                        continue;
                    }

                    var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    client.Bind(new IPEndPoint(addresses[from], 0));
                    await client.ConnectAsync(new IPEndPoint(addresses[to], port), ct).ConfigureAwait(false);
                    var accepted = await listeners[to].AcceptAsync(ct).ConfigureAwait(false);
                    accepted.NoDelay = true;
                    receivers.Add(Task.Run(() => ReceiveAsync(accepted, messages, ct), ct));
                    senders.Add((client, from));
                }
            }

            var cpu = CpuTime.Now();
            var stopwatch = Stopwatch.StartNew();
            await Task.WhenAll(senders.Select(s => Task.Run(() => SendAsync(s.Socket, messages, ct), ct))).ConfigureAwait(false);
            await Task.WhenAll(receivers).ConfigureAwait(false);
            var elapsed = stopwatch.Elapsed;
            cpu = CpuTime.Now() - cpu;
            foreach (var (socket, _) in senders)
            {
                socket.Dispose();
            }

            return (elapsed, cpu);
        }
        finally
        {
            foreach (var l in listeners)
            {
                l.Dispose();
            }
        }
    }

    /// <summary>
    /// Ping-pong of one message between the first two addresses on a new connection; returns RTT
    /// samples in µs, after <paramref name="untimed"/> round trips that are not timed.
    /// </summary>
    public static async Task<Percentiles> RoundTripAsync(IPAddress[] addresses, int port, int iterations, CancellationToken ct, int untimed = 0)
    {
        using var listener = Listen(addresses[1], port);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        client.Bind(new IPEndPoint(addresses[0], 0));
        await client.ConnectAsync(new IPEndPoint(addresses[1], port), ct).ConfigureAwait(false);
        using var server = await listener.AcceptAsync(ct).ConfigureAwait(false);
        server.NoDelay = true;
        var message = BenchMessages.Template();
        var echo = Task.Run(async () =>
        {
            var buffer = new byte[message.Length];
            for (var i = 0; i < untimed + iterations; i++)
            {
                await ReadExactlyAsync(server, buffer, ct).ConfigureAwait(false);
                await server.SendAsync(buffer, SocketFlags.None, ct).ConfigureAwait(false);
            }
        }, ct);
        var samples = new Percentiles(iterations);
        var reply = new byte[message.Length];
        for (var i = 0; i < untimed + iterations; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await client.SendAsync(message, SocketFlags.None, ct).ConfigureAwait(false);
            await ReadExactlyAsync(client, reply, ct).ConfigureAwait(false);
            if (i >= untimed)
            {
                samples.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
            }
        }

        await echo.ConfigureAwait(false);
        return samples;
    }

    private static Socket Listen(IPAddress address, int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        socket.Bind(new IPEndPoint(address, port));
        socket.Listen(128);
        return socket;
    }

    private static async Task SendAsync(Socket socket, long messages, CancellationToken ct)
    {
        var template = BenchMessages.Template();
        var buffer = new byte[64 * 1024];
        var used = 0;
        for (long i = 0; i < messages; i++)
        {
            if (used + template.Length > buffer.Length)
            {
                await SendAllAsync(socket, buffer.AsMemory(0, used), ct).ConfigureAwait(false);
                used = 0;
            }

            template.CopyTo(buffer, used);
            BenchMessages.SetCounter(buffer.AsSpan(used), (uint)i);
            used += template.Length;
        }

        await SendAllAsync(socket, buffer.AsMemory(0, used), ct).ConfigureAwait(false);
    }

    private static async Task SendAllAsync(Socket socket, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (!data.IsEmpty)
        {
            data = data[await socket.SendAsync(data, SocketFlags.None, ct).ConfigureAwait(false)..];
        }
    }

    private static async Task ReceiveAsync(Socket socket, long messages, CancellationToken ct)
    {
        using var _ = socket;
        var checker = new DeliveryChecker(messages);
        var buffer = new byte[64 * 1024];
        var filled = 0;
        while (!checker.Complete)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, ct).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("baseline connection closed early");
            }

            filled += read;
            var consumed = Frame(buffer.AsSpan(0, filled), checker);
            buffer.AsSpan(consumed, filled - consumed).CopyTo(buffer);
            filled -= consumed;
        }
    }

    private static int Frame(ReadOnlySpan<byte> data, DeliveryChecker checker)
    {
        var offset = 0;
        while (FrameReader.TryReadFrame(data[offset..], out var length) == OperationStatus.Done)
        {
            _ = checker.Record(BenchMessages.GetCounter(data[offset..]));
            offset += length;
        }

        return offset;
    }

    private static async Task ReadExactlyAsync(Socket socket, byte[] buffer, CancellationToken ct)
    {
        for (var got = 0; got < buffer.Length;)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None, ct).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("baseline connection closed early");
            }

            got += read;
        }
    }
}
