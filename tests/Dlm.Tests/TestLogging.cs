using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Dlm.Tests;

/// <summary>Console logging at Debug when DLM_TEST_LOG is set (for investigating a failing test), else none.</summary>
internal static class TestLogging
{
    public static ILoggerFactory Factory { get; } = Environment.GetEnvironmentVariable("DLM_TEST_LOG") is null
        ? NullLoggerFactory.Instance
        : LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Debug));
}
