using System.Globalization;
using System.Text;
using Dlm.Protocol;

namespace Dlm.Cli.Demo;

/// <summary>
/// A demo node's record on disk: every grant (<c>+ id node mode start resource</c>), release
/// (<c>- id end</c>) and counter increment (<c>i</c>), each written with its own system call, so what a
/// node did survives its SIGKILL. The parent reads it back to check the killed node's locks too.
/// </summary>
internal sealed class DemoJournal : IDisposable
{
    private readonly FileStream _file;
    private readonly Lock _lock = new();

    public DemoJournal(string path) => _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);

    public void Granted(long id, string resource, int node, LockMode mode, long start) =>
        Write(string.Create(CultureInfo.InvariantCulture, $"+ {id} {node} {(int)mode} {start} {resource}\n"));

    public void Released(long id, long end) => Write(string.Create(CultureInfo.InvariantCulture, $"- {id} {end}\n"));

    public void Incremented() => Write("i\n");

    public void Dispose() => _file.Dispose();

    private void Write(string line)
    {
        var bytes = Encoding.ASCII.GetBytes(line);
        lock (_lock)
        {
            _file.Write(bytes);
        }
    }

    /// <summary>What a journal holds: closed intervals, intervals still open (ended at <paramref name="openEnd"/>), increments.</summary>
    public static (List<SafetyChecker.Interval> Intervals, int Open, long Increments) Read(string path, long openEnd)
    {
        var open = new Dictionary<long, (string Resource, int Node, LockMode Mode, long Start)>();
        var intervals = new List<SafetyChecker.Interval>();
        long increments = 0;
        foreach (var line in File.ReadLines(path))
        {
            var f = line.Split(' ', 6);
            switch (f[0])
            {
                case "+" when f.Length == 6:
                    open[long.Parse(f[1], CultureInfo.InvariantCulture)] = (f[5], int.Parse(f[2], CultureInfo.InvariantCulture),
                        (LockMode)int.Parse(f[3], CultureInfo.InvariantCulture), long.Parse(f[4], CultureInfo.InvariantCulture));
                    break;
                case "-" when f.Length == 3 && open.Remove(long.Parse(f[1], CultureInfo.InvariantCulture), out var g):
                    intervals.Add(new SafetyChecker.Interval(g.Resource, g.Node, g.Mode, g.Start, long.Parse(f[2], CultureInfo.InvariantCulture)));
                    break;
                case "i":
                    increments++;
                    break;
            }
        }

        intervals.AddRange(open.Values.Select(g => new SafetyChecker.Interval(g.Resource, g.Node, g.Mode, g.Start, openEnd)));
        return (intervals, open.Count, increments);
    }
}
