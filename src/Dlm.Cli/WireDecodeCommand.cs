using System.Buffers;
using System.Text.Json;
using Dlm.Protocol;

namespace Dlm.Cli;

/// <summary>
/// <c>dlm wire decode</c>: frames a captured byte stream by <c>h_length</c> and prints one JSON
/// object per message. A bad message prints an error object and decoding goes on with the next
/// one, unless its <c>h_length</c> is out of range (framing lost, spec §3.5) or the stream ends
/// mid-message.
/// </summary>
internal static class WireDecodeCommand
{
    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr, Stream stdin)
    {
        var bytes = args switch
        {
            ["--hex", var hex] => ParseHex(hex),
            ["--hex-file", var path] => ParseHex(StripComments(await ReadTextAsync(path).ConfigureAwait(false))),
            ["--file", "-"] or [] => await ReadAllAsync(stdin).ConfigureAwait(false),
            ["--file", var path] => await ReadFileAsync(path).ConfigureAwait(false),
            _ => throw new UsageException("usage: dlm wire decode [--hex HEX | --hex-file PATH | --file PATH]"),
        };

        var valid = Decode(bytes, stdout);
        return valid ? DlmCli.Ok : DlmCli.Failed;
    }

    /// <summary>Decodes every message; true if all were valid and the stream ended on a boundary.</summary>
    public static bool Decode(ReadOnlySpan<byte> stream, TextWriter output)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using var json = new Utf8JsonWriter(buffer);
        var allValid = true;
        var offset = 0;
        while (offset < stream.Length)
        {
            var rest = stream[offset..];
            var status = FrameReader.TryReadFrame(rest, out var length);
            if (status != OperationStatus.Done)
            {
                var code = status == OperationStatus.InvalidData ? ProtocolErrorCode.LengthOutOfRange : ProtocolErrorCode.Truncated;
                var at = status == OperationStatus.InvalidData ? DlmHeader.LengthOffset : rest.Length;
                PacketJson.WriteError(json, offset, new ProtocolError(code, at), 0);
                Flush(json, buffer, output);
                return false;
            }

            if (PacketDecoder.TryDecode(rest[..length], out var packet, out var error))
            {
                PacketJson.Write(json, offset, packet);
            }
            else
            {
                allValid = false;
                PacketJson.WriteError(json, offset, error, length);
            }

            Flush(json, buffer, output);
            offset += length;
        }

        return allValid;
    }

    private static void Flush(Utf8JsonWriter json, ArrayBufferWriter<byte> buffer, TextWriter output)
    {
        json.Flush();
        output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
        buffer.ResetWrittenCount();
        json.Reset();
    }

    private static byte[] ParseHex(string text)
    {
        var digits = new System.Text.StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (Uri.IsHexDigit(c))
            {
                digits.Append(c);
            }
            else if (!char.IsWhiteSpace(c))
            {
                throw new UsageException($"--hex takes hex digits and whitespace only; found '{c}'");
            }
        }

        if (digits.Length % 2 != 0)
        {
            throw new UsageException($"--hex needs an even number of hex digits; got {digits.Length}");
        }

        return Convert.FromHexString(digits.ToString());
    }

    // A hex dump file may carry '#' comment lines, as docs/examples/capture.hex does.
    private static string StripComments(string text) =>
        string.Join('\n', text.Split('\n').Where(line => !line.TrimStart().StartsWith('#')));

    private static async Task<string> ReadTextAsync(string path) =>
        System.Text.Encoding.ASCII.GetString(await ReadFileAsync(path).ConfigureAwait(false));

    private static async Task<byte[]> ReadFileAsync(string path)
    {
        try
        {
            return await File.ReadAllBytesAsync(path).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read '{path}': {e.Message}");
        }
    }

    private static async Task<byte[]> ReadAllAsync(Stream stdin)
    {
        using var copy = new MemoryStream();
        await stdin.CopyToAsync(copy).ConfigureAwait(false);
        return copy.ToArray();
    }
}
