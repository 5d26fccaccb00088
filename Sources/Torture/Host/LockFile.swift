#if canImport(Glibc)
import Glibc
#endif

/// A run's exclusive claim carried by a `flock` on a file holding the owner's pid: the kernel drops it when the
/// process ends, however it ends. The file is opened without following a symbolic link (one planted in a shared
/// directory would have had its target truncated) and must be a regular file.
struct LockFile {
    enum Failure: Error {
        /// The file cannot be opened (the reason; a symbolic link says so).
        case cannotOpen(String)
        case notARegularFile
        /// Another process holds it (its pid, as it wrote it, or "?").
        case held(owner: String)
    }

    let path: String
    let descriptor: Int32

    /// Takes the lock without waiting and writes this process's pid into it.
    static func claim(_ path: String, mode: mode_t) -> Result<LockFile, Failure> {
        let descriptor = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            return .failure(.cannotOpen(errno == ELOOP ? "it is a symbolic link; remove it" : String(cString: strerror(errno))))
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            return .failure(.notARegularFile)
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let owner = ProcFile.value(path) ?? "?"
            close(descriptor)
            return .failure(.held(owner: owner))
        }
        _ = ftruncate(descriptor, 0)
        _ = DescriptorIO.writeAll(descriptor, "\(getpid())\n")
        return .success(LockFile(path: path, descriptor: descriptor))
    }

    /// Gives the lock up (closing drops the flock); `removing` also unlinks the file, which only the holder may do.
    func release(removing: Bool) {
        if removing { unlink(path) }
        close(descriptor)
    }
}
