/// The stdio door: one client on stdin/stdout. Cuts lines, hands each message to the dispatcher
/// with the client's one session; answers and everything else go to stdout.
public final class StdioDoor: Sendable {
    public let session: ClientSession
    let dispatcher: Dispatcher

    public init(dispatcher: Dispatcher, writer: StdoutWriter) {
        self.dispatcher = dispatcher
        session = ClientSession(door: .stdio, outlet: writer)
        dispatcher.sessions.add(session)
    }

    /// One line of stdin (runs on the loop thread).
    public func handle(line: LineSplitter.Line) {
        switch line {
        case .tooLong(let size, let head):
            session.replyToOutlet(dispatcher.tooLarge(size: size, head: head, unit: "line"))
        case .line(let bytes):
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }  // blank line: nothing to answer
            dispatcher.handle(bytes, from: session, reply: session.replyToOutlet)
        }
    }
}

extension StdoutWriter: ClientOutlet {
    /// Everything goes to stdout, in order: there is one stream.
    public func deliver(_ message: [UInt8], relatedTo: RPCID?) { send(message) }
}
