// mmo-bench: benchmarks of the package's parts, one subcommand each.
import ArgumentParser

struct MMOBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmo-bench",
        abstract: "Benchmarks of the MultiModelOptimizer package.",
        subcommands: [
            BenchFormat.self,
        ])
}

MMOBench.main()
