// `mmo-bench`: timing of the numeric core and the models. One subcommand per area; each prints a
// table (or JSON with `--json`).
import ArgumentParser

/// The root command; the work happens in the subcommands.
struct MMOBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mmo-bench",
        abstract: "Benchmarks of the MultiModelOptimizer numeric core and models.",
        subcommands: [CoreBench.self, ModelsBench.self])
}

MMOBench.main()
