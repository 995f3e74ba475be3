// Chooses and applies the encoding of one region (spec §4–§5 rules from the writer's side):
// all-zero → `zero`; otherwise shuffle (if asked) and zstd, kept only when it pays; else `raw`.

/// The encoded form of one region; the offset is filled in when it is placed in the file.
final class EncodedRegion {
    /// Codec, lengths and checksums (offset 0 until placed).
    let region: MMORegion
    /// The filter the stored bytes went through.
    let filter: MMOFilter
    private let storage: UnsafeMutableRawBufferPointer?
    private let pool: OutputBufferPool?

    /// The zstd frame of a `zstd` region (empty otherwise; raw bytes are taken from the source).
    var compressedBytes: UnsafeRawBufferPointer {
        guard let storage else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(rebasing: storage[0..<region.storedLength])
    }

    init(region: MMORegion, filter: MMOFilter, storage: UnsafeMutableRawBufferPointer? = nil, pool: OutputBufferPool? = nil) {
        self.region = region
        self.filter = filter
        self.storage = storage
        self.pool = pool
    }

    /// The output buffer goes back to the pool once the region has been written.
    deinit {
        if let storage {
            if let pool { pool.give(storage) } else { storage.deallocate() }
        }
    }
}

/// One worker's encoder: a zstd context and a shuffle scratch buffer reused across blobs.
final class RegionEncoder {
    private let compressor = ZstdCompressor()
    private let level: Int32
    private let planeHashLog: Int32?
    private let minimumSaving: Double
    private let pool: OutputBufferPool
    private var scratch = UnsafeMutableRawBufferPointer(start: nil, count: 0)

    init(options: MMOWriteOptions, pool: OutputBufferPool) {
        self.level = options.compressionLevel
        self.planeHashLog = options.planeHashLog
        self.minimumSaving = options.minimumSaving
        self.pool = pool
    }

    deinit { scratch.deallocate() }

    private func scratch(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if scratch.count < count {
            scratch.deallocate()
            scratch = .allocate(byteCount: count, alignment: 64)
        }
        return UnsafeMutableRawBufferPointer(rebasing: scratch[0..<count])
    }

    /// Encodes `bytes`. `filter` is what to try with zstd; the result may still be raw or zero.
    func encode(
        _ bytes: UnsafeRawBufferPointer, elementSize: Int, filter: MMOFilter, compress: Bool, allowZeroCodec: Bool
    ) -> EncodedRegion {
        let n = bytes.count
        let checksum = xxh3(bytes)
        if allowZeroCodec, n > 0, isAllZero(bytes) {
            return EncodedRegion(
                region: MMORegion(codec: .zero, offset: 0, storedLength: 0, length: n, checksum: checksum, storedChecksum: nil),
                filter: .none)
        }
        let raw = EncodedRegion(
            region: MMORegion(codec: .raw, offset: 0, storedLength: n, length: n, checksum: checksum, storedChecksum: nil),
            filter: .none)
        guard compress, n > 0 else { return raw }

        // Room for the extra block headers of one flush per plane.
        let output = pool.take(ZstdCompressor.bound(n) + 64 * elementSize)
        let stored: Int
        if filter == .shuffle {
            let planes = scratch(n)
            shuffleBytes(bytes, into: planes, elementSize: elementSize)
            // zstd cuts a one-shot frame into 128 KiB blocks, each with its own entropy tables.
            // When planes are multiples of 128 KiB, or large enough that the one block straddling
            // each plane boundary hardly matters, one-shot compression (about 15% faster) gives
            // the same size; small planes need a block boundary at each plane.
            let planeSize = n / elementSize
            if planeSize % (128 << 10) == 0 || planeSize >= 1 << 20 {
                stored = compressor.compress(UnsafeRawBufferPointer(planes), into: output, level: level, hashLog: planeHashLog)
            } else {
                stored =
                    compressor.compress(
                        planes: UnsafeRawBufferPointer(planes), count: elementSize, into: output, level: level, hashLog: planeHashLog) ?? n
            }
        } else {
            stored = compressor.compress(bytes, into: output, level: level)
        }
        guard Double(stored) <= Double(n) * (1 - minimumSaving) else {
            pool.give(output)
            return raw
        }
        let storedChecksum = xxh3(UnsafeRawBufferPointer(rebasing: output[0..<stored]))
        return EncodedRegion(
            region: MMORegion(codec: .zstd, offset: 0, storedLength: stored, length: n, checksum: checksum, storedChecksum: storedChecksum),
            filter: filter, storage: output, pool: pool)
    }
}
