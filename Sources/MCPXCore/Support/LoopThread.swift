#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A detached POSIX thread with a chosen stack size and name: what `CurlLoop` runs on.
///
/// Foundation's `Thread` did this before; it is classic Foundation, which costs mcpx several MB of
/// resident memory for one thread.
enum LoopThread {
    /// Runs `body` on a new thread with a `stackSize`-byte stack, named `name` (Linux keeps the first
    /// 15 bytes). Traps if the thread cannot be created: mcpx cannot work without it.
    static func start(name: String, stackSize: Int, _ body: @escaping @Sendable () -> Void) {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstacksize(&attr, stackSize)
        pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED))
        let context = Unmanaged.passRetained(LoopThreadContext(name: name, body: body)).toOpaque()
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t?
        #endif
        let rc = pthread_create(&thread, &attr, { LoopThread.main($0) }, context)
        if rc != 0 {
            Unmanaged<LoopThreadContext>.fromOpaque(context).release()
            fatalError("mcpx: cannot start the \(name) thread: pthread_create returned \(rc)")
        }
    }

    /// The thread's entry point (a C function: it takes the context through a raw pointer).
    private static func main(_ raw: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
        guard let raw else { return nil }
        let context = Unmanaged<LoopThreadContext>.fromOpaque(raw).takeRetainedValue()
        setName(context.name)
        context.body()
        return nil
    }
}

extension LoopThread {
    /// The calling thread's id as a number (never 0), for comparing threads through an atomic.
    static var currentID: UInt {
        #if canImport(Glibc)
        UInt(pthread_self())
        #else
        UInt(bitPattern: pthread_self())
        #endif
    }

    /// Names the calling thread (what `ps -L` and debuggers show).
    fileprivate static func setName(_ name: String) {
        #if os(Linux)
        // Glibc's module leaves out `pthread_setname_np` (a GNU extension); writing the thread's
        // `comm` is what it does underneath. The kernel keeps the first 15 bytes.
        let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return }
        FileOutput.writeAll(fd, name)
        close(fd)
        #elseif canImport(Darwin)
        _ = pthread_setname_np(name)
        #endif
    }
}

/// What `LoopThread.start` hands its new thread.
private final class LoopThreadContext {
    let name: String
    let body: @Sendable () -> Void

    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}
