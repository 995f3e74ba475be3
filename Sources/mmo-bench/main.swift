// `mmo-bench`: timing of the package's parts, one subcommand per area; each prints a table (or
// JSON with `--json`) and, where a PyTorch counterpart exists, the ratio against it.
import ArgumentParser

/// The root command; the work happens in the subcommands.
struct MMOBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmo-bench",
        abstract: "Benchmarks of the MultiModelOptimizer package.",
        subcommands: [CoreBench.self, ModelsBench.self, BenchOptim.self, StepBench.self, BenchFormat.self])
}

MMOBench.main()
