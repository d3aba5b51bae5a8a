namespace Dlm.Core.Tests;

/// <summary>The engine's own name hash (shards and tables only; jhash stays on the wire, spec §1.11).</summary>
public sealed class ResourceNamesTests
{
    [Fact]
    public void Hash_EveryByteOfEveryLength_ChangesTheHash()
    {
        for (var length = 1; length <= 64; length++)
        {
            var name = Enumerable.Range(0, length).Select(i => (byte)('a' + (i % 26))).ToArray();
            var hash = ResourceNames.Hash(name);
            for (var i = 0; i < length; i++)
            {
                var changed = (byte[])name.Clone();
                changed[i] ^= 0x01;
                Assert.NotEqual(hash, ResourceNames.Hash(changed));
            }
        }
    }

    [Fact]
    public void Hash_SameBytes_SameHash_AndLengthMatters()
    {
        Assert.Equal(ResourceNames.Hash("customer/000042"u8), ResourceNames.Hash("customer/000042"u8.ToArray()));
        Assert.NotEqual(ResourceNames.Hash("ab"u8), ResourceNames.Hash("ab\0"u8));
        Assert.NotEqual(ResourceNames.Hash(new byte[8]), ResourceNames.Hash(new byte[9]));
    }

    [Fact]
    public void Hash_SequentialNames_SpreadEvenlyOverShards()
    {
        const int Shards = 64, Names = 64_000;
        var counts = new int[Shards];
        for (var i = 0; i < Names; i++)
        {
            counts[ResourceNames.Hash(System.Text.Encoding.ASCII.GetBytes($"resource/{i:D8}")) & (Shards - 1)]++;
        }

        // 1,000 expected per shard; a fair hash stays within ±15 % (about five standard deviations).
        Assert.All(counts, c => Assert.InRange(c, 850, 1150));
    }
}
