using System.Reflection;

namespace Dlm.Cli.Tests;

/// <summary>The layering of docs/architecture.md: Protocol ← Transport ← Messaging ← Core ← Cli; nothing points upward.</summary>
public sealed class ArchitectureTests
{
    public static TheoryData<string, string[]> Layers => new()
    {
        { "Dlm.Protocol", [] },
        { "Dlm.Transport", ["Dlm.Protocol"] },
        { "Dlm.Messaging", ["Dlm.Protocol", "Dlm.Transport"] },
    };

    [Theory]
    [MemberData(nameof(Layers))]
    public void References_OnlyLowerLayers(string assembly, string[] allowed)
    {
        var references = Assembly.Load(assembly).GetReferencedAssemblies()
            .Select(a => a.Name!)
            .Where(n => n.StartsWith("Dlm", StringComparison.Ordinal))
            .ToArray();
        Assert.All(references, r => Assert.Contains(r, allowed));
    }
}
