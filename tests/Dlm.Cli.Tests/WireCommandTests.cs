using System.Text.Json;

namespace Dlm.Cli.Tests;

public sealed class WireCommandTests
{
    // spec §1.12 worked example followed by its ACK.
    private const string WorkedExample = """
        02 00 03 00 05 00 00 00 01 00 00 00 73 00 03 00  01 00 00 00 00 00 00 00
        02 00 03 00 a9 e4 6e 62 01 00 00 00 5b 00 01 00  01 00 00 00 02 00 00 00
        d2 04 00 00 01 00 00 00 00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00
        00 00 00 00 00 00 00 00 00 00 00 00 96 68 8f e1  00 00 00 00 ff ff ff ff
        05 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00  66 6f 6f
        """;

    private const string Ack = "02 00 03 00 06 00 00 00 02 00 00 00 10 00 04 00";

    [Fact]
    public async Task Hash_Foo_PrintsSpecVector()
    {
        var (exit, output, _) = await CliRunner.RunAsync(["wire", "hash", "foo"]);
        Assert.Equal(0, exit);
        Assert.Equal("0xE18F6896", output.Trim());
    }

    [Fact]
    public async Task LockspaceId_MyLockspace_PrintsSpecVector()
    {
        var (exit, output, _) = await CliRunner.RunAsync(["wire", "lockspace-id", "mylockspace"]);
        Assert.Equal(0, exit);
        Assert.Equal("0x626EE4A9", output.Trim());
    }

    [Fact]
    public async Task LockspaceId_EmptyName_UsageError()
    {
        var (exit, _, err) = await CliRunner.RunAsync(["wire", "lockspace-id", ""]);
        Assert.Equal(2, exit);
        Assert.Contains("1..64 bytes", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decode_WorkedExampleAndAck_OneJsonObjectPerMessage()
    {
        var (exit, output, _) = await CliRunner.RunAsync(["wire", "decode", "--hex", WorkedExample + Ack]);
        Assert.Equal(0, exit);
        var lines = CliRunner.Lines(output);
        Assert.Equal(2, lines.Length);

        using var first = JsonDocument.Parse(lines[0]);
        var root = first.RootElement;
        Assert.Equal(3, root.GetProperty("h_cmd").GetInt32());
        Assert.Equal("DLM_OPTS", root.GetProperty("h_cmd_name").GetString());
        Assert.Equal(5u, root.GetProperty("h_seq").GetUInt32());
        Assert.Equal(115, root.GetProperty("h_length").GetInt32());
        Assert.Equal(1, root.GetProperty("o_nextcmd").GetInt32());
        Assert.Equal(0, root.GetProperty("o_optlen").GetInt32());
        var inner = root.GetProperty("inner");
        Assert.Equal("0x626EE4A9", inner.GetProperty("h_lockspace_hex").GetString());
        Assert.Equal("REQUEST", inner.GetProperty("m_type_name").GetString());
        Assert.Equal(1234, inner.GetProperty("m_pid").GetInt32());
        Assert.Equal("IV", inner.GetProperty("m_grmode_name").GetString());
        Assert.Equal("EX", inner.GetProperty("m_rqmode_name").GetString());
        Assert.Equal("0xE18F6896", inner.GetProperty("m_hash_hex").GetString());
        Assert.Equal(0, inner.GetProperty("m_result").GetInt32());
        Assert.Equal("foo", inner.GetProperty("m_name").GetString());

        using var second = JsonDocument.Parse(lines[1]);
        Assert.Equal("DLM_ACK", second.RootElement.GetProperty("h_cmd_name").GetString());
        Assert.Equal(6u, second.RootElement.GetProperty("h_seq").GetUInt32());
        Assert.Equal(115, second.RootElement.GetProperty("offset").GetInt32());
    }

    [Fact]
    public async Task Decode_InvalidMessageInMiddle_ReportsOffsetAndContinues()
    {
        // An ACK from node 0 (invalid node id) between two valid ACKs.
        const string bad = "02 00 03 00 06 00 00 00 00 00 00 00 10 00 04 00";
        var (exit, output, _) = await CliRunner.RunAsync(["wire", "decode", "--hex", Ack + bad + Ack]);
        Assert.Equal(1, exit);
        var lines = CliRunner.Lines(output);
        Assert.Equal(3, lines.Length);
        using var error = JsonDocument.Parse(lines[1]);
        Assert.False(error.RootElement.GetProperty("valid").GetBoolean());
        Assert.Equal("InvalidNodeId", error.RootElement.GetProperty("error").GetString());
        Assert.Equal(16 + 8, error.RootElement.GetProperty("error_offset").GetInt32());
        using var last = JsonDocument.Parse(lines[2]);
        Assert.True(last.RootElement.GetProperty("valid").GetBoolean());
    }

    [Fact]
    public async Task Decode_LengthOutOfRange_StopsWithFramingError()
    {
        const string tooLong = "02 00 03 00 06 00 00 00 02 00 00 00 01 10 04 00"; // h_length 4097
        var (exit, output, _) = await CliRunner.RunAsync(["wire", "decode", "--hex", Ack + tooLong + Ack]);
        Assert.Equal(1, exit);
        var lines = CliRunner.Lines(output);
        Assert.Equal(2, lines.Length);
        Assert.Contains("\"LengthOutOfRange\"", lines[1], StringComparison.Ordinal);
        Assert.Contains("\"error_offset\":28", lines[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decode_TruncatedStream_ReportsTruncated()
    {
        var (exit, output, _) = await CliRunner.RunAsync(["wire", "decode", "--hex", Ack + "02 00 03 00"]);
        Assert.Equal(1, exit);
        Assert.Contains("\"Truncated\"", CliRunner.Lines(output)[1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decode_StdinAndFile_SameAsHex()
    {
        var bytes = Convert.FromHexString(string.Concat((WorkedExample + Ack).Where(Uri.IsHexDigit)));
        var (_, fromHex, _) = await CliRunner.RunAsync(["wire", "decode", "--hex", WorkedExample + Ack]);
        var (exitStdin, fromStdin, _) = await CliRunner.RunAsync(["wire", "decode"], bytes);
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(path, bytes);
            var (exitFile, fromFile, _) = await CliRunner.RunAsync(["wire", "decode", "--file", path]);
            Assert.Equal((0, 0), (exitStdin, exitFile));
            Assert.Equal(fromHex, fromStdin);
            Assert.Equal(fromHex, fromFile);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("0x02")]
    [InlineData("020")]
    public async Task Decode_BadHex_UsageError(string hex)
    {
        var (exit, _, err) = await CliRunner.RunAsync(["wire", "decode", "--hex", hex]);
        Assert.Equal(2, exit);
        Assert.Contains("--hex", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Decode_MissingFile_UsageError()
    {
        var (exit, _, err) = await CliRunner.RunAsync(["wire", "decode", "--file", "/nonexistent/capture.bin"]);
        Assert.Equal(2, exit);
        Assert.Contains("cannot read", err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownCommand_UsageError()
    {
        var (exit, _, err) = await CliRunner.RunAsync(["frobnicate"]);
        Assert.Equal(2, exit);
        Assert.Contains("unknown command", err, StringComparison.Ordinal);
    }
}

public sealed class ReadmeMainCommandTests
{
    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dlm.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Dlm.slnx not found above " + AppContext.BaseDirectory);
    }

    [Fact]
    public async Task Decode_ExampleCaptureHexFile_FourValidMessages()
    {
        var path = Path.Combine(RepoRoot(), "docs", "examples", "capture.hex");
        var (exit, output, err) = await CliRunner.RunAsync(["wire", "decode", "--hex-file", path]);
        Assert.True(exit == 0, err);
        var lines = CliRunner.Lines(output);
        Assert.Equal(4, lines.Length);
        Assert.All(lines, l => Assert.Contains("\"valid\":true", l, StringComparison.Ordinal));
        Assert.Contains("\"o_nextcmd_name\":\"DLM_FIN\"", lines[3], StringComparison.Ordinal);
    }
}
