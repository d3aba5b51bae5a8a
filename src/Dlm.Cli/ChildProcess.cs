using System.Diagnostics;
using System.Globalization;

namespace Dlm.Cli;

/// <summary>
/// A child process of this tool (one node of a multi-process demo or benchmark), commanded line by
/// line over its stdin and answering on its stdout.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly Process _process;

    private ChildProcess(Process process) => _process = process;

    /// <summary>Starts this executable (or <c>dotnet Dlm.Cli.dll</c>) with <paramref name="arguments"/>.</summary>
    public static ChildProcess Start(IEnumerable<string> arguments)
    {
        var self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find the dlm executable to start child processes");
        var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return new ChildProcess(Process.Start(start) ?? throw new InvalidOperationException("could not start a child process"));
    }

    /// <summary>Splits <c>--id N</c> from a child's arguments.</summary>
    public static (int Id, string[] Others) TakeId(string[] args)
    {
        var id = 0;
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--id" && i + 1 < args.Length && int.TryParse(args[i + 1], CultureInfo.InvariantCulture, out var parsed))
            {
                id = parsed;
                i++;
            }
            else
            {
                rest.Add(args[i]);
            }
        }

        return (id, [.. rest]);
    }

    /// <summary>The next line the child prints; throws if it differs from <paramref name="expected"/> or the child exited.</summary>
    public async Task<string> ExpectAsync(string? expected)
    {
        var line = await _process.StandardOutput.ReadLineAsync().ConfigureAwait(false)
            ?? throw new InvalidOperationException($"child process {_process.Id} exited (code {(_process.HasExited ? _process.ExitCode : -1)})");
        return expected is not null && line != expected
            ? throw new InvalidOperationException($"child process {_process.Id} said '{line}', expected '{expected}'")
            : line;
    }

    /// <summary>Sends a command line and reads the answer.</summary>
    public async Task<string> CommandAsync(string command, string? expected)
    {
        await _process.StandardInput.WriteLineAsync(command).ConfigureAwait(false);
        await _process.StandardInput.FlushAsync().ConfigureAwait(false);
        return await ExpectAsync(expected).ConfigureAwait(false);
    }

    /// <summary>SIGKILL: the node dies at once, with no chance to leave or flush anything.</summary>
    public void Kill()
    {
        _process.Kill();
        _process.WaitForExit();
    }

    /// <summary>Waits up to 5 s for the child to exit, then kills it.</summary>
    public void Dispose()
    {
        if (!_process.HasExited && !_process.WaitForExit(5000))
        {
            _process.Kill();
        }

        _process.Dispose();
    }
}
