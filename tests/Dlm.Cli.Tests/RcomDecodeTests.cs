using System.Text.Json;
using Dlm.Protocol;

namespace Dlm.Cli.Tests;

public sealed class RcomDecodeTests
{
    private static async Task<JsonElement> DecodeOneAsync(byte[] message)
    {
        var (exit, output, err) = await CliRunner.RunAsync(["wire", "decode", "--hex", Convert.ToHexString(message)]);
        Assert.True(exit == 0, err + output);
        return JsonDocument.Parse(CliRunner.Lines(output).Single()).RootElement.Clone();
    }

    [Fact]
    public async Task Decode_RcomLockWithLvb_PrintsRcomLockFields()
    {
        var payload = new byte[108 + 8];
        new RcomLock { LockId = 0x42, GrantedMode = LockMode.ProtectedWrite, RequestedMode = LockMode.Invalid, Status = QueueStatus.Granted }
            .Write(payload, "res\u0001"u8, [1, 2, 3, 4, 5, 6, 7, 8]);
        var message = new byte[300];
        var n = PacketWriter.WriteWrappedRcom(message, 7, 0x99, 2, new RcomHeader(RcomType.Lock, 0, 11, 12, 0), payload);

        var inner = (await DecodeOneAsync(message[..n])).GetProperty("inner");
        Assert.Equal("LOCK", inner.GetProperty("rc_type_name").GetString());
        Assert.Equal(11ul, inner.GetProperty("rc_id").GetUInt64());
        Assert.Equal(12ul, inner.GetProperty("rc_seq").GetUInt64());
        Assert.Equal(0x42u, inner.GetProperty("rl_lkid").GetUInt32());
        Assert.Equal("PW", inner.GetProperty("rl_grmode_name").GetString());
        Assert.Equal("GRANTED", inner.GetProperty("rl_status_name").GetString());
        Assert.Equal("72657301", inner.GetProperty("rl_name_hex").GetString()); // not printable → hex
        Assert.Equal("0102030405060708", inner.GetProperty("rl_lvb").GetString());
    }

    [Fact]
    public async Task Decode_NamesReplyAndStatusReply_PrintsPayloads()
    {
        var names = new byte[WireLimits.NamesReplyCapacity];
        var writer = new NamesWriter(names);
        writer.TryAdd("alpha"u8);
        writer.Complete(endOfList: true);
        var message = new byte[4096];
        var n = PacketWriter.WriteWrappedRcom(message, 1, 0x99, 2, new RcomHeader(RcomType.NamesReply, 0, 1, 2, 3), names);
        var inner = (await DecodeOneAsync(message[..n])).GetProperty("inner");
        Assert.Equal("alpha", inner.GetProperty("names")[0].GetProperty("name").GetString());
        Assert.Equal("end_of_list", inner.GetProperty("names_end").GetString());

        var config = new byte[48];
        new RcomConfig(32, 0, 0, 1, 1, 5).Write(config);
        new RcomSlot(2, 1).Write(config.AsSpan(32));
        n = PacketWriter.WriteRcom(message, 0x99, 2, new RcomHeader(RcomType.StatusReply, Errno.NoSuchProcess, 1, 2, 3), config);
        var reply = await DecodeOneAsync(message[..n]);
        Assert.Equal("ESRCH", reply.GetProperty("rc_result_name").GetString());
        Assert.Equal(32u, reply.GetProperty("rf_lvblen").GetUInt32());
        Assert.Equal(2, reply.GetProperty("rf_slots")[0].GetProperty("ro_nodeid").GetInt32());
    }
}
