using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Dlm.Benchmarks.CodecBenchmarks).Assembly).Run(args);
