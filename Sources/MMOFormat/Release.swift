// Letting go of a blob's pages: tools that stream through large checkpoints (diff, merge, stats)
// read each blob once, and without this every touched page of the mapping would stay resident
// until the reader is closed — the whole file, for a full pass.
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension MMOReader {
    /// Tells the kernel this process no longer needs the mapped pages of `blob`'s stored bytes
    /// (`madvise(MADV_DONTNEED)`). The mapping is read-only and file-backed, so the pages stay
    /// valid: a later read of the blob faults them in again from the page cache. Rounds inward
    /// to whole pages, so pages shared with neighbouring regions are kept.
    public func release(_ blob: MMOBlobInfo) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard page > 0, let base = file.bytes.baseAddress, blob.storedLength > 0 else { return }
        let start = (blob.region.offset + page - 1) / page * page
        let end = (blob.region.offset + blob.region.storedLength) / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }
}
