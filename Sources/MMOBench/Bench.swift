// `mmo-bench`: timing of the package's parts, one subcommand per area; each prints a table (or
// JSON with `--json`) and, where a PyTorch counterpart exists, the ratio against it. The
// benchmarks live in this library so that tests and other tools can run them; the executable
// only calls `BenchCommand.main()`.
import ArgumentParser

/// The root command; the work happens in the subcommands.
public struct BenchCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "mmo-bench",
        abstract: "Benchmarks of the MultiModelOptimizer package.",
        subcommands: [CoreBench.self, ModelsBench.self, BenchOptim.self, StepBench.self, BenchFormat.self, FinetuneBench.self])

    /// The command as ArgumentParser builds it.
    public init() {}
}
