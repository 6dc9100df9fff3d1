/// One MCP server's shared state: its settings, tools, sessions and content. A `Listener` serves one
/// or several of them.
final class ExampleServer: Sendable {
    let options: Options
    let catalog: ToolCatalog
    let sessions: SessionStore
    let content: ExampleContent
    /// What 2026-07-28 requests share (they have no session): log level, subscriptions.
    let stateless: Session

    init(options: Options) {
        self.options = options
        catalog = ToolCatalog(options: options)
        sessions = SessionStore()
        content = ExampleContent(name: options.name)
        stateless = Session(id: "stateless", protocolVersion: "2026-07-28")
    }
}
