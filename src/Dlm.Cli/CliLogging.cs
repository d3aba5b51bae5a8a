using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dlm.Cli;

/// <summary>Console logging for the tool, off unless <c>DLM_LOG</c> names a level (e.g. <c>DLM_LOG=Debug</c>); logs go to stderr.</summary>
internal static class CliLogging
{
    public static ILoggerFactory Factory { get; } = Create();

    private static ILoggerFactory Create()
    {
        var level = Environment.GetEnvironmentVariable("DLM_LOG");
        if (string.IsNullOrEmpty(level) || !Enum.TryParse<LogLevel>(level, ignoreCase: true, out var minimum))
        {
            return NullLoggerFactory.Instance;
        }

        return LoggerFactory.Create(b => b
            .SetMinimumLevel(minimum)
            .AddSimpleConsole(o => o.TimestampFormat = "HH:mm:ss.fff ")
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace));
    }
}
