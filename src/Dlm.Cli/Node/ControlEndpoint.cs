using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Dlm.Cli.Node;

/// <summary>
/// A running node's local control endpoint: a Unix domain socket that answers one line (<c>status</c>,
/// <c>ls</c>, <c>lockdump NAME</c>) with one JSON document, then closes. Only local users who can open the
/// socket file can ask.
/// </summary>
internal sealed class ControlEndpoint : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly string _path;
    private readonly DlmNode _node;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public ControlEndpoint(string path, DlmNode node)
    {
        _path = path;
        _node = node;
        if (File.Exists(path))
        {
            File.Delete(path); // a socket file left by a node that died
        }

        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(path));
        _listener.Listen(16);
        _loop = AcceptAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        File.Delete(_path);
        _stop.Dispose();
    }

    /// <summary>Sends <paramref name="request"/> to the node at <paramref name="path"/> and returns its JSON answer.</summary>
    public static async Task<string> AskAsync(string path, string request, CancellationToken ct)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), ct).ConfigureAwait(false);
        var stream = new NetworkStream(socket, ownsSocket: false);
        await using var _ = stream.ConfigureAwait(false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(request + "\n"), ct).ConfigureAwait(false);
        socket.Shutdown(SocketShutdown.Send);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync(ct).ConfigureAwait(false);
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                return;
            }

            _ = Task.Run(() => AnswerAsync(client));
        }
    }

    private async Task AnswerAsync(Socket client)
    {
        using (client)
        {
            var stream = new NetworkStream(client, ownsSocket: false);
            await using var _ = stream.ConfigureAwait(false);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var request = (await reader.ReadLineAsync().ConfigureAwait(false) ?? "").Trim();
            JsonNode answer;
            try
            {
                answer = request.Split(' ', 2) switch
                {
                    ["status"] => NodeReports.Status(_node),
                    ["ls"] => NodeReports.Lockspaces(_node),
                    ["lockdump", var name] => NodeReports.LockDump(_node, name),
                    _ => new JsonObject { ["error"] = $"unknown request '{request}' (status, ls, lockdump NAME)" },
                };
            }
            catch (InvalidOperationException e)
            {
                answer = new JsonObject { ["error"] = e.Message };
            }

            await stream.WriteAsync(Encoding.UTF8.GetBytes(answer.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n")).ConfigureAwait(false);
        }
    }
}
