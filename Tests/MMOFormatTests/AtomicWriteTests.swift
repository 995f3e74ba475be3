// Crash safety (spec §8): a writer killed with SIGKILL at random moments while replacing a
// checkpoint leaves the target whole, old or new; failed writes leave no file; stale
// temporaries of dead writers are removed by the next write.

import Foundation
import XCTest

@testable import MMOFormat

#if canImport(Glibc)
    import Glibc
#endif

/// The folder of the build products (where `mmo-format-testwriter` is).
var productsDirectory: URL {
    #if os(macOS)
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            return bundle.bundleURL.deletingLastPathComponent()
        }
        return Bundle.main.bundleURL
    #else
        return Bundle.main.bundleURL
    #endif
}

final class AtomicWriteTests: XCTestCase {
    /// Temporaries of `target` in its folder whose owner process is gone.
    func staleTemporaries(of target: URL) throws -> [String] {
        let prefix = AtomicFileWriter.temporaryPrefix(for: target)
        return try FileManager.default.contentsOfDirectory(atPath: target.deletingLastPathComponent().path).filter { name in
            guard name.hasPrefix(prefix) else { return false }
            let rest = name.dropFirst(prefix.count)
            guard let pid = rest.split(separator: "-").first.flatMap({ Int32($0) }) else { return true }
            return kill(pid, 0) == -1 && errno == ESRCH
        }
    }

    func testSigkillDuringSaveLeavesOldOrNewCheckpoint() throws {
        let folder = try temporaryFolder(self)
        let target = folder.appendingPathComponent("run.mmo")
        let executable = productsDirectory.appendingPathComponent("mmo-format-testwriter")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            return XCTFail("\(executable.path) is missing; build the package (`swift build --build-tests`)")
        }
        // Generation 0: the "old" checkpoint written by this process.
        var writer = MMOWriter()
        try writer.setStateDocument(Data("{\"generation\":0}".utf8))
        try writer.write(to: target)

        // Calibration: how long the child takes to start and to write one generation (this
        // differs by an order of magnitude between debug and release builds).
        let calibrationFolder = folder.appendingPathComponent("calibration")
        try FileManager.default.createDirectory(at: calibrationFolder, withIntermediateDirectories: true)
        let calibration = Process()
        calibration.executableURL = executable
        calibration.arguments = ["crash-loop", calibrationFolder.appendingPathComponent("calibration.mmo").path]
        let calibrationOutput = Pipe()
        calibration.standardOutput = calibrationOutput
        let clock = ContinuousClock()
        let start = clock.now
        try calibration.run()
        var times: [Duration] = []
        var pending = Data()
        while times.count < 3 {
            let chunk = calibrationOutput.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            pending += chunk
            while let newline = pending.firstIndex(of: 0x0A) {
                pending.removeSubrange(...newline)
                times.append(clock.now - start)
            }
        }
        kill(calibration.processIdentifier, SIGKILL)
        calibration.waitUntilExit()
        try FileManager.default.removeItem(at: calibrationFolder)  // with the killed child's temporary
        guard times.count == 3 else { return XCTFail("the writer child did not report three generations") }
        let period = (times[2] - times[0]) / 2
        // Kill moments uniform over start-up plus about three generations: they land before the
        // first commit, mid-compression, mid-write, in fsync and around the rename.
        let window = Int((times[0] + period * 3).seconds * 1e6)

        var rng = SplitMix64(state: 7)
        var lastCommitted = 0
        var observed = Set<Int>()
        var midWriteKills = 0
        let rounds = 30
        for round in 0..<rounds {
            let process = Process()
            process.executableURL = executable
            process.arguments = ["crash-loop", target.path]
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            usleep(UInt32(rng.below(window)))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            XCTAssertEqual(process.terminationReason, .uncaughtSignal, "round \(round): the child must die by SIGKILL")
            if try !staleTemporaries(of: target).isEmpty { midWriteKills += 1 }
            let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let committed = printed.split(separator: "\n").compactMap { Int($0) }.last

            // The target must be whole: open, verify every byte, and be one consistent generation.
            let reader = try MMOReader.open(target)
            try reader.verify()
            struct State: Decodable { var generation: Int }
            let generation = try reader.stateDocument(as: State.self).generation
            if let committed {
                // Killed after commit N and possibly after the rename of N+1 but before printing it.
                XCTAssertTrue(generation == committed || generation == committed + 1, "round \(round): found \(generation) after commit \(committed)")
            } else {
                // Nothing printed: the old file, or the first generation renamed but not printed.
                XCTAssertTrue(generation == lastCommitted || generation == 1, "round \(round): found \(generation), previous \(lastCommitted)")
            }
            if generation > 0 {
                let stored = try reader.data("generation").withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }
                XCTAssertEqual(Int(stored), generation, "round \(round): blobs and state document of one generation")
            }
            lastCommitted = generation
            observed.insert(generation)
        }
        // The kills must have landed while a temporary file was being written, or the test did
        // not exercise what it claims (typically 15–25 of the 30 do).
        XCTAssertGreaterThan(midWriteKills, 0, "no kill landed while a temporary file was being written")
        print("crash safety: \(rounds) kills, \(midWriteKills) during a write, generations found \(observed.sorted())")

        // Killed writers leave temporaries; the next write removes every stale one.
        var next = MMOWriter()
        try next.setStateDocument(Data("{\"generation\":-1}".utf8))
        try next.write(to: target)
        XCTAssertEqual(try staleTemporaries(of: target), [])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path), ["run.mmo"])
        XCTAssertEqual(try MMOReader.open(target).stateDocument(), Data("{\"generation\":-1}".utf8))
    }

    func testFailedWriteLeavesTargetAndNoTemporary() throws {
        let folder = try temporaryFolder(self)
        let target = folder.appendingPathComponent("keep.mmo")
        try writeSample(to: target)
        let before = try Data(contentsOf: target)
        // A folder in place of the target makes the final rename fail after everything was written.
        let blocked = folder.appendingPathComponent("blocked.mmo")
        try FileManager.default.createDirectory(at: blocked.appendingPathComponent("child"), withIntermediateDirectories: true)
        assertFormatError(try writeSample(to: blocked), kind: .io)
        XCTAssertEqual(try Data(contentsOf: target), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ["blocked.mmo", "keep.mmo"])
        // A folder that does not exist: the temporary cannot even be created.
        let missing = folder.appendingPathComponent("no/such/folder/x.mmo")
        let error = assertFormatError(try writeSample(to: missing), kind: .io)
        XCTAssertTrue(error?.description.contains("x.mmo") ?? false, "the error names the target")
    }

    func testStaleTemporaryOfDeadProcessIsRemovedButLiveOneIsKept() throws {
        let folder = try temporaryFolder(self)
        let target = folder.appendingPathComponent("t.mmo")
        // A pid that cannot be running: beyond pid_max on Linux (at most 2^22).
        let dead = folder.appendingPathComponent(".t.mmo.tmp-99999999-abcd")
        let live = folder.appendingPathComponent(".t.mmo.tmp-1-abcd")  // pid 1 always exists
        let other = folder.appendingPathComponent(".u.mmo.tmp-99999999-abcd")  // another target
        for url in [dead, live, other] { try Data("partial".utf8).write(to: url) }
        try writeSample(to: target)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dead.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: live.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: other.path))
        try readEverything(target)
    }

    func testReplacingKeepsOldMappingReadable() throws {
        let target = try temporaryFolder(self).appendingPathComponent("r.mmo")
        try writeSample(to: target, seed: 1)
        let old = try MMOReader.open(target)
        let oldWeights = try old.data("model/bert/w")
        try writeSample(to: target, seed: 2)
        // The rename replaced the name, not the inode the old reader maps.
        XCTAssertEqual(try old.data("model/bert/w"), oldWeights)
        try old.verify()
        XCTAssertNotEqual(try MMOReader.open(target).data("model/bert/w"), oldWeights)
    }
}
