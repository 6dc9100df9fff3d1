import Foundation
import Glibc

/// SIGINT, SIGTERM and SIGHUP are blocked in every thread (set before any other thread starts, so all
/// inherit it) and taken by one thread with sigwait: it stops every child the bench started, by pid,
/// and exits. Children get the default dispositions and an empty mask back (see `Child.spawn`).
enum SignalGuard {
    static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, sig) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
        let blocked = set
        let thread = Thread {
            var waitSet = blocked
            var sig: Int32 = 0
            while sigwait(&waitSet, &sig) != 0 {}
            Console.note("signal \(sig): stopping every process the bench started")
            ChildRegistry.shared.killAll(interrupting: true)
            _exit(128 + sig)
        }
        thread.name = "signals"
        thread.start()
    }
}
