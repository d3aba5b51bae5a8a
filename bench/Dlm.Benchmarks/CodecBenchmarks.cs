using BenchmarkDotNet.Attributes;
using Dlm.Protocol;

namespace Dlm.Benchmarks;

/// <summary>Decode and encode of an OPTS-wrapped REQUEST with its name (the spec §1.12 message). Targets: ≤ 50 ns, 0 B.</summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private readonly byte[] _wire = new byte[256];
    private readonly byte[] _output = new byte[256];
    private readonly byte[] _name = "foo"u8.ToArray();
    private DlmMessage _message;
    private int _length;

    [GlobalSetup]
    public void Setup()
    {
        _message = new DlmMessage
        {
            Type = MessageType.Request, NodeId = 2, Pid = 1234, LockId = 1, Hash = 0xE18F6896,
            GrantedMode = LockMode.Invalid, RequestedMode = LockMode.Exclusive, Asts = AstFlags.Completion | AstFlags.Blocking,
        };
        _length = PacketWriter.WriteWrappedMessage(_wire, 5, 0x626EE4A9, 1, _message, _name);
        if (DecodeWrappedRequest() != _message.LockId + (uint)_name.Length)
        {
            throw new InvalidOperationException("the benchmark's message does not decode"); // it would time the error path
        }
    }

    [Benchmark]
    public uint DecodeWrappedRequest()
    {
        PacketDecoder.TryDecode(_wire.AsSpan(0, _length), out var packet, out _);
        return packet.Message.LockId + (uint)packet.Extra.Length;
    }

    [Benchmark]
    public int EncodeWrappedRequest() => PacketWriter.WriteWrappedMessage(_output, 5, 0x626EE4A9, 1, _message, _name);

    [Benchmark]
    public uint HashResourceName() => ResourceHash.Compute("customer/000042"u8);
}
