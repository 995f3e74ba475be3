// A read-only memory mapping of a whole file, unmapped when the last reference goes away.
// Files are only ever replaced by rename (spec §8), never truncated in place, so a mapping stays
// valid for as long as it is held.

import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The bytes of one file, mapped read-only.
final class MappedFile {
    /// The mapped bytes (empty for an empty file, which cannot be mapped).
    let bytes: UnsafeRawBufferPointer
    /// False for an in-memory copy (`init(copying:)`), which is deallocated instead of unmapped.
    private let isMapped: Bool

    /// A private in-memory copy of `source`, read exactly like a mapped file: the fuzz harness
    /// (Formats/fuzz) feeds inputs this way without touching the file system.
    init(copying source: UnsafeRawBufferPointer) {
        isMapped = false
        guard !source.isEmpty else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: source.count, alignment: 64)
        copy.copyMemory(from: source)
        bytes = UnsafeRawBufferPointer(copy)
    }

    /// Maps `path`; throws `.io` naming the failed call.
    init(path: String) throws {
        isMapped = true
        func failure(_ action: String, _ code: Int32) -> MMOFormatError {
            MMOFormatError(.io, file: path, location: "file", reason: "\(action) failed: \(String(cString: strerror(code)))")
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure("open", errno) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw failure("fstat", errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw MMOFormatError(.io, file: path, location: "file", reason: "not a regular file")
        }
        let size = Int(info.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let address, address != MAP_FAILED else { throw failure("mmap", errno) }
        bytes = UnsafeRawBufferPointer(start: address, count: size)
    }

    deinit {
        guard let base = bytes.baseAddress else { return }
        if isMapped { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) } else { UnsafeMutableRawPointer(mutating: base).deallocate() }
    }
}
