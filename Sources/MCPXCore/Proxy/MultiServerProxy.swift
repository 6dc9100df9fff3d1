public import MCPXJSON
import CSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The multiplexer: one `ServerConfig` and one connection per backend, their lifecycles, and the
/// routing table that the hot path reads.
///
/// Each enabled backend has a supervisor task that connects it, keeps it healthy and reconnects it
/// with capped exponential backoff. Whatever changes the visible tool set republishes the router
/// and tells the client with `notifications/tools/list_changed`.
public actor MultiServerProxy {
    public struct Settings: Sendable {
        public var maxToolName = 64
        public var startupTimeout: Double = 5
        public var callTimeout: Double = 60
        /// Progress may extend a call's timeout, never past this.
        public var maxCallTime: Double = 600
        /// Calls in flight to one backend at most; past it calls fail at once.
        public var maxInFlight = 512
        /// `--cache-max-bytes`: memory for cached tool results, all servers together (LRU).
        public var cacheMaxBytes = 64 << 20
        public var connectTimeout: Double = 10
        public var healthInterval: Double = 30
        public var backoffBase: Double = 0.5
        public var backoffCap: Double = 10
        public var failureThreshold = 3
        public var maxTools: Int?
        public var globalAllowTools: [String] = []
        public var globalDenyTools: [String] = []
        public var readOnly = false
        public var allowURLs: [String] = []
        /// `--allow-command`: what `manage add` may start (globs on the command as given).
        public var allowCommands: [String] = []
        /// `--expose`: list every tool, or mcpx's own and the search tools only, or decide by count.
        public var expose: ExposeMode = .auto
        /// `--expose-limit`: in `auto`, search mode once more tools than this would be listed.
        public var exposeLimit = 128
        /// `--always-expose`: tools listed in search mode too (globs on `server__tool` or the tool's own name).
        public var alwaysExpose: [String] = []
        /// `--backend-protocol`: the era of servers whose configuration does not say (`"protocol"`).
        public var backendProtocol: BackendConnection.ProtocolChoice = .auto
        /// `--registry`: MCP registries `manage search_registry` and `manage install` use.
        public var registries: [String] = []
        public init() {}
    }

    public enum ExposeMode: String, Sendable, CaseIterable {
        case all, search, auto
    }

    /// A backend prompt as mcpx shows it (namespaced) and as the backend knows it.
    struct ExposedPrompt {
        var exposedName: String
        var originalName: String
        var definition: JSONValue
    }

    struct Entry {
        var config: ServerConfig
        var connection: BackendConnection
        /// Exposed names of its tools (their definitions live only in `toolBytes`).
        var toolNames: [String] = []
        var supervisor: Task<Void, Never>?
        var firstAttemptDone = false
        /// Its prompts/resources were fetched once (or its first attempt failed): see `waitForCatalogs`.
        var firstCatalogDone = false
        var lastPoke: UInt64 = 0
        /// Continuations waiting for the attempt in progress to end (manage add, calls to a failed backend).
        var attemptWaiters: [CheckedContinuation<Void, Never>] = []
        var attemptInProgress = false
        /// Prompts (exposed name, original name, definition), resources and templates, as last fetched.
        var prompts: [ExposedPrompt] = []
        /// This backend's part of the router and of the tools/list answer, built when its tools change.
        var toolRoutes: [String: Router.Route] = [:]
        var toolBytes: [UInt8] = []
        /// Changes with `toolBytes`/`toolRoutes` (unique across the proxy's life): what the search
        /// index's part of this server was built from.
        var toolsVersion = 0
        /// Its tools that `--always-expose` lists in search mode too (definitions, comma-joined).
        var alwaysBytes: [UInt8] = []
        var alwaysCount = 0
        var resources: [JSONValue] = []
        var templates: [JSONValue] = []
        /// Whether the backend keeps a GET stream open for list changes (else lists are polled).
        var hasEventStream = false
        /// The backend answered this connection's GET with a refusal (405): lists are polled.
        var eventStreamRefused = false
        /// Its last attempt was refused within the start-up window: retry soon (it may be starting).
        var retrySoon = false
        /// An attempt is running on its connection (at most one at a time: two handshakes on one
        /// connection would each tear down the other's session).
        var attemptRunning = false
        /// Some of its tools have other names than their own because an earlier server held them:
        /// rebuilt at every router rebuild, so they get their own names back once that is free.
        var renamedForClash = false
        /// A stdio server: how often its process was started again, and how many times in a row
        /// it ended (or failed to start) soon after starting.
        var restarts = 0
        var quickCrashes = 0
        // Replicas (see MultiServerProxy+Replicas.swift).
        /// A replicated server's entry: its replicas' keys (it has no connection of its own).
        var memberKeys: [String] = []
        /// Of those, the ready ones that list the server's tool set, in order.
        var usableKeys: [String] = []
        var balancer: ReplicaBalancer?
        /// The tool set the server lists (the majority's), and whether its catalog came from its lead.
        var referenceSignature: [String: UInt64]?
        var catalogFromLead = false
        /// A replica's entry: its tools as last listed, their signature, how they differ from its
        /// server's set (nil when they do not), and its weight.
        var rawTools: [JSONValue] = []
        var signature: [String: UInt64] = [:]
        var difference: ReplicaDifference?
        var weight = 1
        /// Cache, rate limit and retries (nil when the server has none).
        var policy: CallPolicy?
    }

    public let settings: Settings
    public let router: Router
    let loop: CurlLoop
    let log: Logger
    /// Every client connected through any door.
    public nonisolated let sessions: ClientSessions
    let startNanos = monotonicNanos()

    var entries: [String: Entry] = [:]
    var order: [String] = []
    var started = false
    var startupWaiters: [CheckedContinuation<Void, Never>] = []
    var catalogWaiters: [CheckedContinuation<Void, Never>] = []
    var startupDeadlinePassed = false
    var clientCapabilities: JSONValue = .object([:])
    var needsPublish = false
    /// A reload is applying its difference: the router is rebuilt (and clients told) once, at its end.
    var holdPublish = false
    var publishScheduled = false
    var lastPublishedParts: [[UInt8]] = []
    var shuttingDown = false
    /// Which server holds each exposed tool name, kept as tools are built: a name found held by
    /// another server asks the next router rebuild to resolve clashes (`resolveNameClashes`).
    var nameOwners: [String: String] = [:]
    var clashSuspected = false
    var trimmedAfterStartup = false
    /// Bumped whenever the listed tools change (the search index is rebuilt for the next query).
    var toolsGeneration = 0
    var lastIndexedParts: [[UInt8]] = []
    var searchIndexCache: (generation: Int, index: ToolIndex)?
    /// Each server's search segments, with the version of its tool list they were built from
    /// (`Entry.toolsVersion`): a list change rebuilds that server's segments only.
    var searchSegments: [String: (version: Int, segments: [ToolIndex.Segment])] = [:]
    var searchTerms = SearchTerms()
    /// Search-result listings (first sentence, parameters) of the servers that had hits, per
    /// exposed name; dropped with the server's segment.
    var searchListings: [String: (version: Int, tools: [String: ToolIndex.Tool])] = [:]
    var toolsVersions = 0
    /// Stdio servers being started now, and those waiting for their turn (`maxConcurrentSpawns`).
    var spawning = 0
    var spawnWaiters: [CheckedContinuation<Void, Never>] = []
    /// Totals across backends that are gone (removed), so totals never go down.
    var removedCalls = 0
    /// Requests from backends to the client, and their answers.
    nonisolated let bridge: RequestBridge
    /// Progress tokens of calls in flight, by backend (only a call's own backend may report on it).
    public nonisolated let progressTokens: ProgressTokens
    /// The level the client asked for with `logging/setLevel`, for backends that connect later.
    var logLevel: String?
    /// Saves the server set after every `manage` change (the `--state` file).
    var stateSaver: (@Sendable ([ServerConfig]) -> Void)?

    public func setStateSaver(_ f: @escaping @Sendable ([ServerConfig]) -> Void) { stateSaver = f }
    /// Every change of the server set (in memory unless `setHistory` gives one beside the state file).
    var history: History
    public func setHistory(_ h: History) { history = h }

    public init(settings: Settings, servers: [ServerConfig], loop: CurlLoop, log: Logger) {
        self.settings = settings
        self.loop = loop
        self.log = log
        let sessions = ClientSessions()
        self.sessions = sessions
        self.router = Router()
        self.bridge = RequestBridge(sessions: sessions, log: log)
        let tokens = ProgressTokens()
        self.progressTokens = tokens
        let events = BackendEvents(sessions: sessions, log: log, router: router, tokens: tokens)
        self.events = events
        var entries: [String: Entry] = [:]
        var order: [String] = []
        for var s in servers {
            if s.protocolChoice == .auto { s.protocolChoice = settings.backendProtocol }
            for (k, e) in Self.makeEntries(s, loop: loop, log: log, events: events) { entries[k] = e }
            order.append(s.name)
        }
        self.cache = ResultCache(maxBytes: settings.cacheMaxBytes)
        self.history = History(statePath: nil, log: log)
        self.entries = entries
        self.order = order
        events.attach(self)
    }

    /// A connection whose server-initiated messages go through `events`.
    nonisolated static func makeConnection(_ s: ServerConfig, loop: CurlLoop, log: Logger, events: BackendEvents) -> BackendConnection {
        let name = s.name
        return BackendConnection(
            name: s.name, url: s.url, headers: s.headers, transport: s.transport, loop: loop, log: log, stdio: s.stdio, protocolChoice: s.protocolChoice,
            onProcessExit: { why, lived in events.processExited(server: name, why, lived: lived) },
            onMessage: { msg, origin in events.handle(server: name, msg, origin: origin) })
    }

    /// Routes server-initiated messages of every backend.
    let events: BackendEvents
    /// Cached tool results of servers with a `"cache"` policy.
    public nonisolated let cache: ResultCache

    // MARK: Start-up

    /// Connects every enabled backend in parallel. Called once, when the client initializes (so
    /// backends are told only the client capabilities the client really has).
    public func start(clientCapabilities: JSONValue) {
        guard !started else { return }
        started = true
        self.clientCapabilities = clientCapabilities
        for name in order where entries[name]?.config.enabled == true {
            startSupervisor(name)
        }
        publish()
        let timeout = settings.startupTimeout
        Task { [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
            await self?.startupDeadline()
        }
        checkStartupDone()
    }

    /// The capabilities mcpx declares to backends: only what the upstream client has.
    var backendCapabilities: JSONValue {
        var caps = JSONObject()
        for key in ["roots", "sampling", "elicitation"] {
            if let v = clientCapabilities[key], case .object = v { caps[key] = v }
        }
        return .object(caps)
    }

    func startupDeadline() {
        startupDeadlinePassed = true
        // Backends still being retried have had their chance: start-up no longer waits for them.
        for name in Array(entries.keys) where entries[name]?.retrySoon == true {
            entries[name]!.retrySoon = false
            entries[name]!.firstAttemptDone = true
            if let err = entries[name]!.config.lastError { log.warning("\(name): connection failed: \(err)") }
            catalogFetched(name)
        }
        publish()
        checkStartupDone()
    }

    func checkStartupDone() {
        let done = startupDeadlinePassed || order.allSatisfy { firstAttemptOver($0) }
        guard done else { return }
        if !router.snapshot.startupDone { publishNow() }
        router.update { $0.startupDone = true }
        let w = startupWaiters
        startupWaiters = []
        for c in w { c.resume() }
        checkCatalogsDone()
    }

    /// Resumes `waitForCatalogs` once every backend's first catalog fetch has ended (or start-up's
    /// bound has passed).
    func checkCatalogsDone() {
        if !trimmedAfterStartup && catalogsDone && order.allSatisfy({ entries[$0]?.firstCatalogDone ?? true }) {
            // Start-up parsed every backend's lists on the pool's threads: hand back what their
            // malloc arenas keep free.
            trimmedAfterStartup = true
            Task.detached { _ = mcpx_trim_heap() }
        }
        guard !catalogWaiters.isEmpty, catalogsDone else { return }
        let w = catalogWaiters
        catalogWaiters = []
        for c in w { c.resume() }
    }

    var catalogsDone: Bool {
        startupDeadlinePassed
            || order.allSatisfy { entries[$0].map { $0.firstCatalogDone || !$0.config.enabled } ?? true }
    }

    /// Waits until the prompts and resources of every backend's first attempt are known (bounded
    /// like start-up). Tools come first: a backend is in tools/list before its catalog is fetched.
    public func waitForCatalogs() async {
        await waitForStartup()
        if catalogsDone { return }
        await withCheckedContinuation { catalogWaiters.append($0) }
    }

    /// Waits until every backend's first attempt has ended, or the start-up bound has passed.
    public func waitForStartup() async {
        if !started { start(clientCapabilities: .object([:])) }
        if router.snapshot.startupDone { return }
        await withCheckedContinuation { startupWaiters.append($0) }
    }

    // MARK: Supervision

    func startSupervisor(_ name: String) {
        if isReplicated(name) {
            for k in connectionKeys(name) where entries[k]?.config.enabled == true { startSupervisor(k) }
            return
        }
        entries[name]?.supervisor?.cancel()
        entries[name]?.supervisor = Task { [weak self] in await self?.supervise(name) }
    }

    /// The life of one backend: connect, then ping now and then; reconnect with backoff when it fails.
    ///
    /// Each step runs in a task of its own. A task keeps the memory its deepest chain of awaits
    /// needed until it ends, and this loop lives as long as the backend: with the steps inline,
    /// 500 backends held about 12 MB of task memory after start-up.
    func supervise(_ name: String, alreadyConnected: Bool = false) async {
        var failures = 0
        var connected = alreadyConnected
        while !Task.isCancelled {
            guard let e = entries[name], e.config.enabled else { return }
            let ok = connected ? true : await Task { await self.attemptConnect(name) }.value
            connected = false
            if Task.isCancelled { return }
            if ok {
                failures = 0
                var lastPing = monotonicNanos()
                // Healthy: ping now and then; leave the loop when the backend is found failing.
                while !Task.isCancelled {
                    // A stdio server with an idle timeout is looked at often enough to stop on time.
                    let idle = entries[name]?.config.stdio?.idleTimeout
                    let pause = idle.map { min(settings.healthInterval, max(0.2, $0 / 4)) } ?? settings.healthInterval
                    try? await Task.sleep(nanoseconds: UInt64(pause * 1e9))
                    if Task.isCancelled { return }
                    if idle != nil, let conn = entries[name]?.connection {
                        if conn.isIdleStopped { continue }  // no pings: they would start it again
                        // In a task of its own, like every step here (see above): its awaits
                        // must not grow the memory this long-lived loop keeps.
                        if await Task(operation: { await conn.stopIfIdle() }).value { continue }
                        if monotonicNanos() - lastPing < UInt64(settings.healthInterval * 1e9) { continue }
                    }
                    lastPing = monotonicNanos()
                    if !(await Task(operation: { await self.healthCheck(name) }).value) { break }
                    await Task { await self.pollLists(name) }.value
                }
            } else {
                failures += 1
            }
            if Task.isCancelled { return }
            var delay = Self.backoff(attempt: failures, base: settings.backoffBase, cap: settings.backoffCap)
            // A backend that refused while mcpx starts may be starting too: try again every 100 ms
            // or so until the start-up window closes, so the first tools/list can include it.
            if entries[name]?.retrySoon == true { delay = min(delay, Self.startupRetryDelay) }
            try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
        }
    }

    static let startupRetryDelay = 0.1
    /// Stdio servers started at once, at most.
    static let maxConcurrentSpawns = 8
    /// A process that ends within this many seconds of starting counts as a quick crash; this many
    /// in a row make a `crash-loop`.
    static let quickCrashSeconds = 10.0
    static let crashLoopThreshold = 3

    func acquireSpawnSlot() async {
        if spawning < Self.maxConcurrentSpawns {
            spawning += 1
            return
        }
        await withCheckedContinuation { spawnWaiters.append($0) }
    }

    func releaseSpawnSlot() {
        if spawnWaiters.isEmpty {
            spawning -= 1
        } else {
            spawnWaiters.removeFirst().resume()  // the slot passes on
        }
    }

    /// A stdio server's process ended by itself: its calls have failed; mark it and start it
    /// again (at once the first time, with backoff when it keeps crashing soon after starting).
    func processExited(_ name: String, _ why: String, lived: Double) {
        // An attempt under way reports its own failure (and counts it): not twice.
        guard let e = entries[name], e.config.enabled, !shuttingDown, !e.attemptRunning else { return }
        entries[name]!.quickCrashes = lived < Self.quickCrashSeconds ? e.quickCrashes + 1 : 0
        let crashLoop = entries[name]!.quickCrashes >= Self.crashLoopThreshold
        entries[name]!.config.status = crashLoop ? .crashLoop : .failed
        entries[name]!.config.lastError = "process ended: \(why)"
        log.warning("\(name): process ended: \(why)\(crashLoop ? " (crash loop: restarting with backoff)" : "; restarting")")
        publish()
        let delay = entries[name]!.quickCrashes > 0
            ? Self.backoff(attempt: entries[name]!.quickCrashes, base: settings.backoffBase, cap: settings.backoffCap) : 0
        entries[name]?.supervisor?.cancel()
        entries[name]?.supervisor = Task { [weak self] in
            if delay > 0 { try? await Task.sleep(nanoseconds: UInt64(delay * 1e9)) }
            if Task.isCancelled { return }
            await self?.supervise(name)
        }
    }

    /// Capped exponential backoff with ±20 % jitter.
    nonisolated static func backoff(attempt: Int, base: Double, cap: Double) -> Double {
        let raw = min(cap, base * pow(2, Double(max(0, attempt - 1))))
        return raw * Double.random(in: 0.8...1.2)
    }

    /// One connection attempt: handshake, then every page of tools. Returns whether it worked.
    func attemptConnect(_ name: String) async -> Bool {
        if isReplicated(name) { return await attemptConnectReplicas(name) }
        guard let e = entries[name] else { return false }
        if e.attemptRunning {
            // A supervisor that was replaced (cancelled) may still be awaiting its attempt: take
            // that attempt's outcome rather than starting a second one on the same connection.
            await withCheckedContinuation { c in entries[name]?.attemptWaiters.append(c) ?? c.resume() }
            return entries[name]?.config.status == .ready
        }
        entries[name]?.attemptRunning = true
        entries[name]?.attemptInProgress = true
        // Every start of a stdio server's process after its first is a restart.
        if e.config.stdio != nil && e.config.connectAttempts > 0 { entries[name]?.restarts += 1 }
        entries[name]?.config.connectAttempts += 1
        if e.config.status != .ready { entries[name]?.config.status = e.firstAttemptDone ? e.config.status : .connecting }
        let conn = e.connection
        let timeout = Int(settings.connectTimeout * 1000)
        var result: Result<[JSONValue], BackendError>
        var streamAnswered: OneShotSignal?
        do {
            if e.config.stdio != nil {
                // A bounded number of processes start at once: 100 servers on 2 cores must not
                // fork 100 heavy runtimes in the same millisecond.
                await acquireSpawnSlot()
                defer { releaseSpawnSlot() }
                try await conn.handshake(clientCapabilities: backendCapabilities, timeoutMillis: timeout)
            } else {
                try await conn.handshake(clientCapabilities: backendCapabilities, timeoutMillis: timeout)
            }
            // The GET stream opens with the tools/list, not after: a backend is ready only once its
            // stream is open (or refused), so a list change it sends right after the client's first
            // tools/list is not lost (servers drop what they cannot send on an open stream).
            streamAnswered = openFirstEventStream(name, conn)
            let hasTools = conn.serverCapabilities?["tools"] != nil || conn.serverCapabilities == nil
            result = .success(hasTools ? try await conn.listAll("tools/list", key: "tools", timeoutMillis: timeout) : [])
            await streamAnswered?.wait(upTo: Self.eventStreamAnswerWait)
        } catch {
            result = .failure(error)
        }
        // The entry may have been removed or disabled meanwhile.
        guard entries[name] != nil, entries[name]!.connection === conn, entries[name]!.config.enabled else {
            if streamAnswered != nil { conn.closeEventStream() }
            finishAttempt(name)
            catalogFetched(name)
            return false
        }
        switch result {
        case .success(let tools):
            bridge.forget(server: name)  // requests of an earlier session are void
            entries[name]!.config.status = .ready
            entries[name]!.config.lastError = nil
            entries[name]!.config.protocolVersion = conn.protocolVersion
            entries[name]!.config.serverName = conn.serverInfo?["name"]?.stringValue
            if entries[name]!.config.lastConnectedAt != nil { conn.stats.withLock { $0.reconnects += 1 } }
            entries[name]!.config.lastConnectedAt = wallClockSeconds()
            setTools(name, tools)
            let toolCount = e.config.replicaOf != nil ? entries[name]!.signature.count : entries[name]!.toolNames.count
            log.info("\(name): ready, \(toolCount) tools, protocol \(conn.protocolVersion ?? "?")")
            // The tools are what start-up waits for; prompts, resources and the event stream follow
            // (with 500 backends this takes half of the requests off the way to a full tools/list).
            finishAttempt(name)
            // A replica's prompts and resources are its server's, fetched from its lead.
            if e.config.replicaOf == nil { await fetchCatalog(name, conn) }
            guard entries[name]?.connection === conn else { return false }
            applyLogLevel(conn)
            if let e = entries[name], !e.hasEventStream, !e.eventStreamRefused { openEventStream(name) }
            catalogFetched(name)
            return entries[name]?.config.status == .ready
        case .failure(let err):
            if streamAnswered != nil {
                conn.closeEventStream()
                entries[name]!.hasEventStream = false
            }
            entries[name]!.config.status = .failed
            entries[name]!.config.lastError = err.message
            if e.config.stdio != nil {
                entries[name]!.quickCrashes += 1
                if entries[name]!.quickCrashes >= Self.crashLoopThreshold { entries[name]!.config.status = .crashLoop }
            }
            if err.kind == .tooLarge { _ = mcpx_trim_heap() }  // what the oversized list took goes back
            // Refused within the start-up window: start-up waits for it (until the window closes)
            // while the supervisor retries promptly.
            let retrySoon = err.isConnectionRefused && !startupDeadlinePassed && !shuttingDown
            entries[name]!.retrySoon = retrySoon
            if retrySoon {
                log.debug("\(name): connection failed: \(err.message); retrying while mcpx starts")
                finishAttempt(name, countsForStartup: false)
                return false
            }
            if !shuttingDown { log.warning("\(name): connection failed: \(err.message)") }
            publish()
        }
        finishAttempt(name)
        catalogFetched(name)
        return false
    }

    func catalogFetched(_ name: String) {
        guard entries[name] != nil, !entries[name]!.firstCatalogDone else { return }
        entries[name]!.firstCatalogDone = true
        checkCatalogsDone()
    }

    /// An attempt ended. `countsForStartup` false: start-up (and the catalogs) still wait for this
    /// backend's first real outcome, though callers waiting for this attempt are resumed.
    func finishAttempt(_ name: String, countsForStartup: Bool = true) {
        guard entries[name] != nil else { return }
        entries[name]!.attemptInProgress = false
        entries[name]!.attemptRunning = false
        if countsForStartup {
            entries[name]!.firstAttemptDone = true
            entries[name]!.retrySoon = false
        }
        let w = entries[name]!.attemptWaiters
        entries[name]!.attemptWaiters = []
        for c in w { c.resume() }
        checkStartupDone()
    }

    /// Pings a ready backend; after `failureThreshold` consecutive failures it is marked failed.
    func healthCheck(_ name: String) async -> Bool {
        guard let conn = entries[name]?.connection else { return false }
        do {
            _ = try await conn.call(conn.healthMethod, nil, timeoutMillis: 5_000)
            return true
        } catch {
            if error.kind == .sessionExpired { return false }
            let consecutive = conn.statsSnapshot.consecutiveFailures
            if consecutive >= settings.failureThreshold || error.kind == .unavailable {
                markFailed(name, error.message)
                return false
            }
            return true
        }
    }

    func markFailed(_ name: String, _ message: String) {
        guard entries[name] != nil, entries[name]!.config.enabled else { return }
        let wasReady = entries[name]!.config.status == .ready
        entries[name]!.config.status = .failed
        entries[name]!.config.lastError = message
        entries[name]!.connection.closeEventStream()
        if wasReady {
            log.warning("\(name): marked failed: \(message)")
            publish()
        }
    }

    /// A call saw a transport failure: count it, and open the circuit when the backend keeps failing.
    public func reportFailure(_ name: String, _ error: BackendError) {
        guard let e = entries[name], e.config.status == .ready else { return }
        // A stdio server's process ending is handled (with its backoff) by `processExited`.
        if e.config.stdio != nil && error.kind == .unavailable { return }
        let consecutive = e.connection.statsSnapshot.consecutiveFailures
        if error.kind == .unavailable || consecutive >= settings.failureThreshold {
            markFailed(name, error.message)
            startSupervisor(name)  // reconnect now, then back off
            entries[name]?.lastPoke = monotonicNanos()
        }
    }

    /// For a call to a backend that is not ready: try to reconnect now (at most once a second),
    /// wait for that attempt, and say whether the backend is ready.
    public func ensureReady(_ name: String) async -> Bool {
        guard let e = entries[name], e.config.enabled else { return false }
        if e.config.status == .ready { return true }
        if !e.memberKeys.isEmpty { return await ensureReplicasReady(name) }
        // A stdio server that keeps crashing is restarted on its backoff, not by each call.
        if e.config.stdio != nil && e.quickCrashes > 0 && !e.attemptInProgress { return false }
        if !e.attemptInProgress {
            let now = monotonicNanos()
            if now - e.lastPoke < 1_000_000_000 { return false }
            entries[name]!.lastPoke = now
            startSupervisor(name)
            entries[name]!.attemptInProgress = true
        }
        await withCheckedContinuation { c in entries[name]?.attemptWaiters.append(c) ?? c.resume() }
        if needsPublish { publishNow() }  // the caller reads the router next
        return entries[name]?.config.status == .ready
    }

    /// A request saw 404 for session `seenGeneration`: initialize again (once for all such requests).
    public func recoverSession(_ name: String, seenGeneration: Int) async -> Bool {
        guard let conn = entries[name]?.connection else { return false }
        do {
            try await conn.recoverSession(
                seenGeneration: seenGeneration, clientCapabilities: backendCapabilities,
                timeoutMillis: Int(settings.connectTimeout * 1000))
            return true
        } catch {
            markFailed(name, "session expired and re-initializing failed: \((error as? BackendError)?.message ?? "\(error)")")
            startSupervisor(name)
            return false
        }
    }

    /// A dual-era backend served at 2026-07-28 whose tool needed a server-to-client request (which
    /// that revision does not allow): it is served in the handshake era from now on (a new
    /// session, or a new process), so such tools work. Returns whether that worked.
    public func downgradeToHandshake(_ key: String, seenGeneration: Int) async -> Bool {
        guard let conn = entries[key]?.connection else { return false }
        if conn.protocolChoice != .handshake {
            log.warning("\(key): a tool sent a request to the client, which \(ModernEra.version) does not allow; serving \(key) in the handshake era from now on (set \"protocol\": \"2025-11-25\" to start that way)")
            conn.preferHandshake()
            entries[key]?.config.protocolChoice = .handshake
        }
        // Calls that saw the same session wait for the one new handshake.
        return await recoverSession(key, seenGeneration: seenGeneration)
    }

    /// The backend said its tools changed (or mcpx wants to re-check): fetch them again.
    public func refreshTools(_ name: String) async {
        guard let conn = entries[name]?.connection, entries[name]?.config.status == .ready else { return }
        do {
            let tools = try await conn.listAll("tools/list", key: "tools", timeoutMillis: Int(settings.connectTimeout * 1000))
            guard entries[name]?.connection === conn else { return }
            setTools(name, tools)
        } catch {
            if !shuttingDown { log.warning("\(name): could not refresh tools: \(error.message)") }
        }
    }

    // MARK: Tools and the router

    func setTools(_ name: String, _ raw: [JSONValue]) {
        if entries[name]?.config.replicaOf != nil {
            setReplicaTools(name, raw)
            return
        }
        buildTools(name, raw, taken: [:])
        publish()
    }

    /// Builds a backend's part of the router and of tools/list. `taken` maps exposed names that
    /// earlier servers hold to those servers: a tool whose name is taken gets a salted one.
    func buildTools(_ name: String, _ raw: [JSONValue], taken: [String: String]) {
        guard let e = entries[name] else { return }
        var names: [String] = []
        var renamed = false
        var seen = Set<String>()
        var routes: [String: Router.Route] = [:]
        var bytes: [UInt8] = []
        var always: [UInt8] = []
        var alwaysCount = 0
        for t in raw.prefix(20_000) {
            guard case .object(var obj) = t, case .string(let original)? = obj["name"], !original.isEmpty,
                original.utf8.count <= 1024, !seen.contains(original)
            else { continue }
            // Both filters must let a tool through: the server's own lists and the global ones.
            guard ToolFilter.allows(original, allow: e.config.allowTools, deny: e.config.denyTools),
                ToolFilter.allows(original, allow: settings.globalAllowTools, deny: settings.globalDenyTools)
            else { continue }
            seen.insert(original)
            var exposed = ToolNaming.exposedName(server: name, tool: original, max: settings.maxToolName)
            // A collision (two shortened names alike, in this server or with an earlier one) is
            // resolved with a salt, deterministically: the same set of servers gives the same names.
            var salt = 0
            while (routes[exposed] != nil || taken[exposed] != nil) && salt < 1000 {
                if salt == 0, let other = taken[exposed] {
                    renamed = true
                    log.warning("\(name): tool \(original.prefix(80)) would be exposed as \(exposed), which \(other) has; it gets another name")
                }
                salt += 1
                exposed = ToolNaming.exposedName(server: name, tool: original, max: settings.maxToolName, salt: salt)
            }
            if routes[exposed] != nil || taken[exposed] != nil { continue }
            obj["name"] = .string(exposed)
            let def = JSONValue.object(obj)
            routes[exposed] = Router.Route(server: name, tool: original)
            if !bytes.isEmpty { bytes.append(UInt8(ascii: ",")) }
            def.write(to: &bytes)
            names.append(exposed)
            if settings.alwaysExpose.contains(where: { ToolFilter.matches(exposed, pattern: $0) || ToolFilter.matches(original, pattern: $0) }) {
                if !always.isEmpty { always.append(UInt8(ascii: ",")) }
                def.write(to: &always)
                alwaysCount += 1
            }
        }
        entries[name]!.alwaysBytes = always
        entries[name]!.alwaysCount = alwaysCount
        entries[name]!.renamedForClash = renamed
        for old in e.toolNames where nameOwners[old] == name { nameOwners[old] = nil }
        for n in names {
            if let owner = nameOwners[n], owner != name { clashSuspected = true }
            nameOwners[n] = name
        }
        if renamed { clashSuspected = true }
        entries[name]!.toolNames = names
        entries[name]!.toolRoutes = routes
        entries[name]!.toolBytes = bytes
        toolsVersions += 1
        entries[name]!.toolsVersion = toolsVersions
        entries[name]!.config.toolCount = names.count
    }

    /// Makes exposed names unique across the whole set, in server order: a server whose names
    /// clash with an earlier server's is rebuilt from its own definitions with those names taken
    /// (and rebuilt again at each rebuild while renamed, so the names depend only on the set).
    /// Never merges two servers' routes. Costs one dictionary insert per tool when nothing clashes.
    func resolveNameClashes() {
        // Nothing to do unless a clash was seen (or a renamed server may get its names back).
        guard clashSuspected else { return }
        clashSuspected = false
        var taken: [String: String] = [:]
        for name in order {
            guard let e = entries[name] else { continue }
            if e.renamedForClash || e.toolRoutes.keys.contains(where: { taken[$0] != nil }) {
                // The definitions as the backend gave them: exposed names back to the originals.
                if case .array(let defs)? = try? JSONParser.parse([UInt8(ascii: "[")] + e.toolBytes + [UInt8(ascii: "]")]) {
                    let raw: [JSONValue] = defs.map { d in
                        guard case .object(var o) = d, case .string(let exposed)? = o["name"], let r = e.toolRoutes[exposed] else { return d }
                        o["name"] = .string(r.tool)
                        return .object(o)
                    }
                    buildTools(name, raw, taken: taken)
                }
            }
            if let routes = entries[name]?.toolRoutes {
                for k in routes.keys { taken[k] = name }
            }
            if entries[name]?.renamedForClash == true { clashSuspected = true }  // check again next time
        }
        nameOwners = taken
    }

    /// Asks for the router to be rebuilt. Bursts (hundreds of backends connecting at once) are
    /// coalesced into one rebuild; `publishNow` is for callers that need the new routes at once.
    func publish() {
        needsPublish = true
        guard !publishScheduled, !holdPublish else { return }
        publishScheduled = true
        Task { [weak self] in await self?.publishIfNeeded() }
    }

    func publishIfNeeded() {
        publishScheduled = false
        if needsPublish { publishNow() }
    }

    /// Rebuilds the router snapshot and the tools/list answer from each backend's cached part;
    /// tells the client if the list changed.
    func publishNow() {
        needsPublish = false
        for name in order where entries[name]?.memberKeys.isEmpty == false { recomputeGroup(name) }
        resolveNameClashes()
        var routes: [String: Router.Route] = [:]
        var backends: [String: Router.Backend] = [:]
        var own: [UInt8] = []
        var count = 0
        for def in ManagementTools.definitions(readOnly: settings.readOnly) {
            if count > 0 { own.append(UInt8(ascii: ",")) }
            def.write(to: &own)
            count += 1
        }
        var parts = [own]
        var size = own.count
        // Every ready server's tools, and those listed in search mode.
        var all: [[UInt8]] = []
        var always: [[UInt8]] = []
        var alwaysCount = 0
        var total = count
        for name in order {
            guard let e = entries[name] else { continue }
            let timeout = Int((e.config.timeoutSeconds ?? settings.callTimeout) * 1000)
            var backend = Router.Backend(connection: e.connection, status: e.config.status, timeoutMillis: timeout)
            backend.policy = e.policy
            if !e.memberKeys.isEmpty {
                backend.balancer = e.balancer
                backend.replicas = e.usableKeys.compactMap { k in entries[k].map { Router.Replica(key: k, connection: $0.connection, weight: $0.weight) } }
                for k in e.memberKeys {
                    if let m = entries[k] { backends[k] = Router.Backend(connection: m.connection, status: m.config.status, timeoutMillis: timeout) }
                }
            }
            backends[name] = backend
            // Routes stay for tools of failed and disabled backends: a call gets a clear answer.
            routes.merge(e.toolRoutes) { a, _ in a }
            if e.config.enabled && e.config.status == .ready && !e.toolBytes.isEmpty {
                all.append(e.toolBytes)  // shared with the entry, not copied
                total += e.toolNames.count
                if !e.alwaysBytes.isEmpty {
                    always.append(e.alwaysBytes)
                    alwaysCount += e.alwaysCount
                }
            }
        }
        let searchMode = settings.expose == .search || (settings.expose == .auto && total > settings.exposeLimit)
        if searchMode {
            // mcpx's own tools, the three search tools, and what --always-expose names.
            for def in ManagementTools.searchDefinitions() {
                parts[0].append(UInt8(ascii: ","))
                def.write(to: &parts[0])
                count += 1
            }
            size = parts[0].count
            parts += always
            size += always.reduce(0) { $0 + $1.count }
            count += alwaysCount
        } else {
            parts += all
            size += all.reduce(0) { $0 + $1.count }
            count = total
        }
        if all != lastIndexedParts {
            lastIndexedParts = all
            toolsGeneration += 1
        }
        router.update { s in
            s.tools = routes
            s.backends = backends
            s.toolsListParts = parts
            s.toolsListBytes = size
            s.listedCount = count
            s.searchMode = searchMode
            s.routableCount = total
        }
        checkCatalogsDone()  // a removed or disabled backend is no longer waited for
        // Unchanged parts are the same buffers, so this compares identities, not megabytes.
        if parts != lastPublishedParts {
            lastPublishedParts = parts
            // Changes before start-up ends are part of the first tools/list anyway.
            if router.snapshot.startupDone { sessions.listChanged("notifications/tools/list_changed") }
        }
    }

    // MARK: Shutdown

    /// Stops supervision and ends every backend session (DELETE), in parallel, bounded.
    public func shutdown() async {
        shuttingDown = true
        for e in entries.values { e.supervisor?.cancel() }
        let conns = order.flatMap { connectionKeys($0) }.compactMap { entries[$0]?.connection }
        await withTaskGroup(of: Void.self) { g in
            for c in conns { g.addTask { await c.close(timeoutMillis: 1_000) } }
        }
    }

    public var serverNames: [String] { order }

    /// A request a backend sent to the client (sampling, elicitation, roots, ping).
    func answerBackendRequest(server: String, id: RPCID, method: String, _ msg: IncomingMessage, origin: CallOrigin?) async {
        guard let conn = entries[server]?.connection else {
            bridge.release(server: server, method: method)
            return
        }
        bridge.forward(server: server, connection: conn, backendID: id, method: method, msg, origin: origin)
    }


    public func config(_ name: String) -> ServerConfig? { entries[name]?.config }

    /// A stdio server's last stderr lines (nil for HTTP servers).
    public func stderrTail(_ name: String) -> [String]? { entries[name]?.connection.stderrTail }
}
