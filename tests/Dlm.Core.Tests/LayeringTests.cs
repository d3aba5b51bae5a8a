namespace Dlm.Core.Tests;

/// <summary>docs/architecture.md: Core sits on Messaging, Transport and Protocol and nothing above them.</summary>
public sealed class LayeringTests
{
    [Fact]
    public void CoreAssembly_ReferencesOnlyLowerLayers()
    {
        string[] allowed = ["Dlm.Protocol", "Dlm.Transport", "Dlm.Messaging"];
        var references = typeof(LockspaceEngine).Assembly.GetReferencedAssemblies()
            .Select(a => a.Name!)
            .Where(n => n.StartsWith("Dlm", StringComparison.OrdinalIgnoreCase));
        Assert.All(references, r => Assert.Contains(r, allowed));
    }
}
