// Command-line overrides of a run's config, and which of them a resume accepts: length,
// checkpoint cadence and threads may change; anything that shapes the models, the data or the
// optimizer's trajectory may not.
import Foundation
import MMOCore

/// Overrides from the command line; nil leaves the config's value.
public struct RunOverrides: Sendable {
    public var maxSteps: Int?
    public var epochs: Int?
    public var seed: UInt64?
    public var checkpointEvery: Int?
    public var threads: Int?

    public init(maxSteps: Int? = nil, epochs: Int? = nil, seed: UInt64? = nil, checkpointEvery: Int? = nil, threads: Int? = nil) {
        self.maxSteps = maxSteps
        self.epochs = epochs
        self.seed = seed
        self.checkpointEvery = checkpointEvery
        self.threads = threads
    }

    /// `config` with these overrides applied.
    public func applied(to config: RunConfig) -> RunConfig {
        var c = config
        if let maxSteps {
            c.training.maxSteps = maxSteps
        }
        if let epochs {
            c.training.epochs = epochs
            c.training.maxSteps = nil
        }
        if let seed { c.seed = seed }
        if let checkpointEvery { c.training.checkpointEvery = checkpointEvery }
        if let threads { c.training.threads = threads }
        return c
    }
}
