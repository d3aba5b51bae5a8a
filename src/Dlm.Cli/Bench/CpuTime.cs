namespace Dlm.Cli.Bench;

/// <summary>The process's CPU time so far, split into user and kernel time (both cores together).</summary>
internal readonly record struct CpuTime(TimeSpan User, TimeSpan Kernel)
{
    public TimeSpan Total => User + Kernel;

    public static CpuTime Now()
    {
        var usage = Environment.CpuUsage;
        return new(usage.UserTime, usage.PrivilegedTime);
    }

    public static CpuTime operator -(CpuTime after, CpuTime before) => new(after.User - before.User, after.Kernel - before.Kernel);
}
