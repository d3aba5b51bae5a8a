using System.Net;

namespace Dlm.Tests;

public sealed class ClusterConfigurationTests
{
    private const string Valid = """
        {
          // three nodes on loopback, node 3 twice as likely to be a directory node
          "cluster": "demo",
          "port": 21064,
          "nodes": [
            { "id": 1, "addresses": ["127.0.0.1"] },
            { "id": 2, "addresses": ["127.0.0.2", "127.0.1.2"] },
            { "id": 3, "addresses": ["127.0.0.3"], "weight": 2, "mark": 7 },
          ]
        }
        """;

    [Fact]
    public void Parse_Valid_ReadsEverySetting()
    {
        var c = ClusterConfiguration.Parse(Valid);
        Assert.Equal("demo", c.Cluster);
        Assert.Equal(21064, c.Port);
        Assert.Equal([1, 2, 3], c.Nodes.Select(n => n.Id));
        Assert.Equal(2, c.Nodes[2].Weight);
        Assert.Equal(7u, c.Nodes[2].Mark);
        Assert.Equal(1, c.Nodes[0].Weight);

        var book = c.ToAddressBook(1);
        Assert.Equal(1, book.LocalNodeId);
        Assert.True(book.TryGetNodeId(IPAddress.Parse("127.0.1.2"), out var id)); // a peer's second address identifies it
        Assert.Equal(2, id);
        Assert.Equal(3, c.DirectoryMembers.Count);
    }

    // TCP cannot serve a multi-homed local node (spec §3.1): node 2 may be a peer with two addresses,
    // but not run with them itself.
    [Fact]
    public void ToAddressBook_LocalNodeWithTwoAddresses_ConfigurationError()
    {
        var c = ClusterConfiguration.Parse(Valid);

        var e = Assert.Throws<DlmConfigurationException>(() => c.ToAddressBook(2));
        Assert.Contains("spec §3.1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_File_SameAsParse()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, Valid);
            Assert.Equal(ClusterConfiguration.Parse(Valid).Nodes.Count, ClusterConfiguration.Load(path).Nodes.Count);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("""{ "cluster": "", "nodes": [ { "id": 1, "addresses": ["127.0.0.1"] } ] }""", "cluster:")]
    [InlineData("""{ "cluster": "c", "port": 70000, "nodes": [ { "id": 1, "addresses": ["127.0.0.1"] } ] }""", "port: 70000")]
    [InlineData("""{ "cluster": "c", "nodes": [] }""", "at least one node")]
    [InlineData("""{ "cluster": "c", "nodes": [ { "id": 0, "addresses": ["127.0.0.1"] } ] }""", "nodes[0].id: 0")]
    [InlineData("""{ "cluster": "c", "nodes": [ { "id": 1, "addresses": ["127.0.0.1"] }, { "id": 1, "addresses": ["127.0.0.2"] } ] }""", "listed twice")]
    [InlineData("""{ "cluster": "c", "nodes": [ { "id": 1, "addresses": [] } ] }""", "nodes[0].addresses: give 1..3")]
    [InlineData("""{ "cluster": "c", "nodes": [ { "id": 1, "addresses": ["a", "b", "c", "d"] } ] }""", "give 1..3")]
    [InlineData("""{ "cluster": "c", "nodes": [ { "id": 1, "addresses": ["300.1.1.1"] } ] }""", "'300.1.1.1' is not an IP address")]
    [InlineData("""{ "cluster": "c", "nodes": [ { "id": 1, "addresses": ["127.0.0.1"] }, { "id": 2, "addresses": ["127.0.0.1"] } ] }""", "already belongs to node 1")]
    [InlineData("""{ "cluster": "c", "nodes": [ { "id": 1, "addresses": ["127.0.0.1"] }, { "id": 2, "addresses": ["::1"] } ] }""", "one address family")]
    [InlineData("""{ "cluster": "c", "nodes": [ { "id": 1, "addresses": ["127.0.0.1"], "weight": -1 } ] }""", "weight: -1")]
    [InlineData("""{ "cluster": "c", "nodes": [ { "id": 1, "addresses": ["127.0.0.1"] } ], "prot": 1 }""", "prot")]
    [InlineData("""{ "cluster": "c", "nodes": [ { "id": "one" } ] }""", "not valid cluster configuration JSON")]
    [InlineData("null", "empty")]
    public void Parse_Invalid_ErrorNamesTheSetting(string json, string expected)
    {
        var e = Assert.Throws<DlmConfigurationException>(() => ClusterConfiguration.Parse(json, "cluster.json"));
        Assert.StartsWith("cluster.json", e.Message, StringComparison.Ordinal);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ToAddressBook_UnknownLocalNode_ErrorListsTheNodes()
    {
        var e = Assert.Throws<DlmConfigurationException>(() => ClusterConfiguration.Parse(Valid).ToAddressBook(9));
        Assert.Contains("1, 2, 3", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingFile_ClearError()
    {
        var e = Assert.Throws<DlmConfigurationException>(() => ClusterConfiguration.Load("/nonexistent/cluster.json"));
        Assert.Contains("Cannot read", e.Message, StringComparison.Ordinal);
    }
}

public sealed class ExampleConfigurationTests
{
    [Fact]
    public void Load_DocsExample_IsValid()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Dlm.slnx")))
        {
            dir = dir.Parent;
        }

        var c = ClusterConfiguration.Load(Path.Combine(dir!.FullName, "docs", "examples", "cluster.json"));
        Assert.Equal(3, c.Nodes.Count);
    }
}
