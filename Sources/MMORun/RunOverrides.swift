// Command-line overrides of a run's config, and which of them a resume accepts: length,
// checkpoint cadence and threads may change; anything that shapes the models, the data or the
// optimizer's trajectory may not.
import Foundation
import MMOCore

/// Overrides from the command line; nil leaves the config's value.
public struct RunOverrides: Sendable {
    /// `--max-steps`: sets `training.maxSteps` (total optimizer steps).
    public var maxSteps: Int?
    /// `--epochs`: sets `training.epochs` and clears `training.maxSteps` (applied after it, so it
    /// wins when both are given).
    public var epochs: Int?
    /// `--seed`: sets the run's `seed` (a resume refuses a different one).
    public var seed: UInt64?
    /// `--checkpoint-every`: sets `training.checkpointEvery` (0: at each epoch end).
    public var checkpointEvery: Int?
    /// `--threads`: sets `training.threads` (OpenBLAS threads).
    public var threads: Int?

    /// Overrides of the given fields; every parameter defaults to nil (no override).
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
