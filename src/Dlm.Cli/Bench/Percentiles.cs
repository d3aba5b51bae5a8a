namespace Dlm.Cli.Bench;

/// <summary>Latency samples in microseconds.</summary>
internal sealed class Percentiles(int capacity)
{
    private readonly double[] _samples = new double[capacity];
    private int _count;

    public void Add(double microseconds)
    {
        if (_count < _samples.Length)
        {
            _samples[_count++] = microseconds;
        }
    }

    /// <summary>The samples in the order they were added.</summary>
    public double[] ToArray() => _samples.AsSpan(0, _count).ToArray();

    /// <summary>Adds every sample of <paramref name="other"/> (as far as there is room).</summary>
    public void AddAll(Percentiles other)
    {
        foreach (var sample in other._samples.AsSpan(0, other._count))
        {
            Add(sample);
        }
    }

    public double At(double fraction)
    {
        if (_count == 0)
        {
            return double.NaN;
        }

        var sorted = _samples.AsSpan(0, _count).ToArray();
        Array.Sort(sorted);
        return sorted[Math.Min(_count - 1, (int)(fraction * _count))];
    }

    /// <summary>The median, NaN for none; NaN values (a round that measured nothing) are left out.</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted[sorted.Length / 2];
    }
}
