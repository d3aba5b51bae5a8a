namespace Dlm.Cli;

/// <summary>JSON settings of the tool's reports (demo, benches): a percentile over no samples is NaN, written as "NaN".</summary>
internal static class ReportJson
{
    public static System.Text.Json.JsonSerializerOptions Options { get; } = new()
    {
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
