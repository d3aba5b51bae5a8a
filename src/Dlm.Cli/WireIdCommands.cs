using System.Globalization;
using System.Text;
using Dlm.Protocol;

namespace Dlm.Cli;

/// <summary><c>dlm wire hash</c> and <c>dlm wire lockspace-id</c> (spec §1.11).</summary>
internal static class WireIdCommands
{
    public static int Hash(string name, TextWriter stdout)
    {
        var bytes = Encoding.UTF8.GetBytes(name);
        if (bytes.Length > WireLimits.MaxResourceNameLength)
        {
            throw new UsageException($"a resource name is at most {WireLimits.MaxResourceNameLength} bytes; '{name}' has {bytes.Length}");
        }

        stdout.WriteLine(Format(ResourceHash.Compute(bytes)));
        return DlmCli.Ok;
    }

    public static int LockspaceIdOf(string name, TextWriter stdout, TextWriter stderr)
    {
        var length = Encoding.UTF8.GetByteCount(name);
        if (length is 0 or > WireLimits.MaxLockspaceNameLength)
        {
            throw new UsageException($"a lockspace name is 1..{WireLimits.MaxLockspaceNameLength} bytes; '{name}' has {length}");
        }

        stdout.WriteLine(Format(LockspaceId.Compute(name)));
        return DlmCli.Ok;
    }

    public static string Format(uint value) => "0x" + value.ToString("X8", CultureInfo.InvariantCulture);
}
