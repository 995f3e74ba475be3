// Full verification (spec §7.4): every region decodes to bytes with the recorded XXH3-64, every
// padding byte is zero, the state document is a JSON object, and header + regions + padding +
// index add up to the file length exactly. A file that passes has not changed in any byte that
// the checksums could notice.

import Dispatch
import Foundation

/// The byte accounting of a verified file: `headerBytes + storedBytes + paddingBytes +
/// indexBytes == fileLength`.
public struct MMOVerifyReport: Sendable, Equatable {
    /// Number of blobs checked.
    public var blobCount: Int
    /// The file length.
    public var fileLength: Int
    /// Always 64.
    public var headerBytes: Int
    /// Stored bytes of the state document and all blobs.
    public var storedBytes: Int
    /// Zero bytes between regions.
    public var paddingBytes: Int
    /// Index length.
    public var indexBytes: Int
    /// Raw (decoded) bytes of the state document and all blobs.
    public var rawBytes: Int
}

/// Limits of the state document (spec §9).
public enum MMOStateDocument {
    /// Deepest nesting of arrays and objects a reader must accept and a writer may produce.
    public static let maxDepth = 512
}

extension MMOReader {
    /// Decodes and checks every region and every padding byte, on `threads` workers; throws the
    /// error of the first damaged region in file order.
    @discardableResult
    public func verify(threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> MMOVerifyReport {
        // State document: checksum, then the strict JSON rules (the same check as every read).
        _ = try stateDocument()

        // Padding: the bytes between each region's end and the next region (or the index).
        var padding = 0
        let regions = [stateRegion] + blobs.map(\.region)
        for (i, region) in regions.enumerated() {
            let end = region.offset + region.storedLength
            let next = i + 1 < regions.count ? regions[i + 1].offset : indexRange.lowerBound
            let gap = UnsafeRawBufferPointer(rebasing: file.bytes[end..<next])
            if !isAllZero(gap) {
                let at = i == 0 ? "state document" : "blob \"\(blobs[i - 1].name)\""
                throw MMOFormatError(.nonZeroPadding, file: url.path, location: "padding after \(at)", reason: "bytes \(end)..<\(next) must be zero")
            }
            padding += gap.count
        }

        // Blobs, in parallel; raw blobs are hashed in place.
        let failures = UnsafeMutableBufferPointer<MMOFormatError?>.allocate(capacity: blobs.count)
        failures.initialize(repeating: nil)
        defer { failures.deinitialize().deallocate() }
        let lock = NSLock()
        var next = 0
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, blobs.count))) { _ in
            let workspace = DecodeWorkspace()
            while true {
                lock.lock()
                let k = next
                next += 1
                lock.unlock()
                guard k < blobs.count else { return }
                let blob = blobs[k]
                let location = "blob \"\(blob.name)\""
                do {
                    switch blob.codec {
                    case .raw:
                        try check(storedBytes(blob.region), against: blob.checksum, location: location)
                    case .zero:
                        // Hashed below, in one pass for all zero blobs, without allocating.
                        break
                    case .zstd:
                        // Everything that can be checked without memory comes first, so that a
                        // hostile length never reaches the allocator unless its frame is genuine.
                        try checkStored(blob.region, location: location)
                        guard UInt64(blob.length) <= ProcessInfo.processInfo.physicalMemory else {
                            throw MMOFormatError(.invalidArgument, file: url.path, location: location, reason: "decoding \(blob.length) bytes exceeds this machine's memory; verify it on a larger machine")
                        }
                        let out = workspace.scratch(blob.length)
                        try decode(blob.region, filter: blob.filter, elementSize: blob.dtype.size, location: location, into: out, storedChecked: true)
                    }
                } catch let e as MMOFormatError {
                    failures[k] = e
                } catch {
                    failures[k] = MMOFormatError(.decodeFailed, file: url.path, location: "blob \"\(blob.name)\"", reason: "\(error)")
                }
            }
        }
        // Zero blobs: XXH3-64 of `length` zeros (spec §4), streamed in constant memory; one pass
        // up to the largest length (≤ 2^40) serves every zero blob of the file.
        let zeroHashes = ZeroHash.of(lengths: blobs.lazy.filter { $0.codec == .zero }.map(\.length))
        for (k, blob) in blobs.enumerated() where blob.codec == .zero && failures[k] == nil {
            let actual = zeroHashes[blob.length]!
            if actual != blob.checksum {
                failures[k] = MMOFormatError(.checksumMismatch, file: url.path, location: "blob \"\(blob.name)\"", reason: "\(blob.length) zero bytes hash to \(hex16(actual)) but the index records \(hex16(blob.checksum)); the index entry is wrong")
            }
        }
        for case let failure? in failures { throw failure }

        let stored = regions.reduce(0) { $0 + $1.storedLength }
        let report = MMOVerifyReport(
            blobCount: blobs.count, fileLength: fileLength, headerBytes: MMOLimits.headerSize, storedBytes: stored,
            paddingBytes: padding, indexBytes: indexRange.count, rawBytes: regions.reduce(0) { $0 + $1.length })
        // The canonical layout makes this an identity; a violation is a bug in `open`.
        precondition(report.headerBytes + report.storedBytes + report.paddingBytes + report.indexBytes == fileLength)
        return report
    }
}
