// Foundation reports file problems as "NSCocoaErrorDomain error 256"; users need "is a folder" or
// "permission denied". These helpers find the reason from the file system itself (errno), so every
// message names the path and says what is wrong.
import Foundation

/// Why a file could not be read, in words.
public struct FileReadError: Error, CustomStringConvertible {
    /// The path.
    public var path: String
    /// What is wrong and what to do.
    public var reason: String
    /// `path: reason`.
    public var description: String { "\(path): \(reason)" }
}

/// The contents of the regular file `path`, or a `FileReadError` saying why not (missing, a
/// folder, not readable, …). `what` names the file's role in messages ("config file").
public func readFile(_ path: String, what: String) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw FileReadError(path: path, reason: "no such \(what)")
    }
    if isDirectory.boolValue { throw FileReadError(path: path, reason: "is a folder, not a \(what)") }
    guard FileManager.default.isReadableFile(atPath: path) else {
        throw FileReadError(path: path, reason: "the \(what) is not readable (permission denied)")
    }
    do {
        return try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw FileReadError(path: path, reason: "cannot read the \(what) (\(systemReason(error)))")
    }
}

/// The POSIX reason behind a Foundation error when there is one (`No space left on device`),
/// else its localized description.
public func systemReason(_ error: Error) -> String {
    let ns = error as NSError
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
    return ns.localizedDescription
}

/// Why a folder cannot be created at `url`: the first existing ancestor that is not a folder, or
/// one that is not writable; nil when nothing in the way is found.
public func folderObstacle(_ url: URL) -> String? {
    var ancestor = url.standardizedFileURL
    while ancestor.path != "/" {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory) {
            if !isDirectory.boolValue {
                return ancestor == url.standardizedFileURL
                    ? "exists and is a file, not a folder"
                    : "\(ancestor.path) is a file, so no folder can be made under it"
            }
            if !FileManager.default.isWritableFile(atPath: ancestor.path) { return "\(ancestor.path) is not writable (permission denied)" }
            return nil
        }
        ancestor = ancestor.deletingLastPathComponent()
    }
    return nil
}
