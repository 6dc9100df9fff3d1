@testable import MCPXCore
import MCPXJSON
import Synchronization
import Testing

/// Three connections to nowhere (nothing is sent): what the balancer reads are their counters.
private func replicas(_ weights: [Int] = [1, 1, 1], loop: CurlLoop) -> [Router.Replica] {
    weights.enumerated().map { i, w in
        let conn = BackendConnection(
            name: "s#\(i + 1)", url: "http://127.0.0.1:1/mcp", headers: [], loop: loop, log: .silent, onMessage: { _, _ in })
        return Router.Replica(key: "s#\(i + 1)", connection: conn, weight: w)
    }
}

private func counts(_ b: ReplicaBalancer, _ r: [Router.Replica], _ n: Int) -> [Int] {
    var c = Array(repeating: 0, count: r.count)
    for _ in 0..<n { c[b.pick(r)!] += 1 }
    return c
}

@Suite struct ReplicaBalancerTests {
    @Test func roundRobinTakesEachInTurn() {
        let loop = CurlLoop()
        defer { loop.shutdown() }
        let r = replicas(loop: loop)
        let b = ReplicaBalancer(strategy: .roundRobin)
        let picks = (0..<6).map { _ in b.pick(r)! }
        #expect(picks == [0, 1, 2, 0, 1, 2])
        #expect(counts(b, r, 300) == [100, 100, 100])
    }

    @Test func weightedIsExactAndInterleaved() {
        let loop = CurlLoop()
        defer { loop.shutdown() }
        let r = replicas([3, 1], loop: loop)
        let b = ReplicaBalancer(strategy: .weighted)
        let picks = (0..<8).map { _ in b.pick(r)! }
        #expect(picks.filter { $0 == 0 }.count == 6)
        // Smooth: the light replica is not kept waiting for a run of three heavy picks each time.
        #expect(picks == [0, 0, 1, 0, 0, 0, 1, 0])
        #expect(counts(b, r, 1000) == [750, 250])
    }

    @Test func leastConnectionsAvoidsTheBusyAndSharesTies() {
        let loop = CurlLoop()
        defer { loop.shutdown() }
        let r = replicas(loop: loop)
        let b = ReplicaBalancer(strategy: .leastConnections)
        #expect(Set((0..<3).map { _ in b.pick(r)! }) == [0, 1, 2])  // idle: in turn
        r[0].connection.inFlight.store(5, ordering: .relaxed)
        r[2].connection.inFlight.store(1, ordering: .relaxed)
        #expect(counts(b, r, 50) == [0, 50, 0])
    }

    @Test func excludedReplicasAreSkippedAndNoneLeftIsNil() {
        let loop = CurlLoop()
        defer { loop.shutdown() }
        let r = replicas(loop: loop)
        for strategy in ServerConfig.LoadBalancing.allCases {
            let b = ReplicaBalancer(strategy: strategy)
            for _ in 0..<20 { #expect(b.pick(r, excluding: ["s#1", "s#3"]) == 1) }
            #expect(b.pick(r, excluding: ["s#1", "s#2", "s#3"]) == nil)
            #expect(b.pick([]) == nil)
        }
    }

    @Test func healthAvoidsAnErroringReplicaButNotEntirely() {
        let loop = CurlLoop()
        defer { loop.shutdown() }
        let r = replicas(loop: loop)
        for (i, conn) in r.map(\.connection).enumerated() {
            conn.stats.withLock { s in
                for _ in 0..<10 { s.recordHealth(failed: i == 1, micros: 400) }
            }
        }
        let b = ReplicaBalancer(strategy: .health)
        let c = counts(b, r, 4000)
        #expect(c[1] < 40, "the erroring replica got \(c[1]) of 4000")
        #expect(c[0] > 1500 && c[2] > 1500)
    }

    @Test func healthPrefersTheFasterReplica() {
        let loop = CurlLoop()
        defer { loop.shutdown() }
        let r = replicas([1, 1], loop: loop)
        r[0].connection.stats.withLock { s in for _ in 0..<10 { s.recordHealth(failed: false, micros: 300) } }
        r[1].connection.stats.withLock { s in for _ in 0..<10 { s.recordHealth(failed: false, micros: 3_000) } }
        let c = counts(ReplicaBalancer(strategy: .health), r, 2000)
        #expect(c[0] > 1900 && c[1] > 0)
    }

    @Test func errorRateFadesWithTime() {
        var s = BackendStats()
        let t0: UInt64 = 1_000_000_000
        for _ in 0..<20 { s.recordHealth(failed: true, micros: nil, now: t0) }
        #expect(s.healthErrorRate(now: t0) > 0.95)
        #expect(abs(s.healthErrorRate(now: t0 + 5_000_000_000) - s.healthErrorRate(now: t0) / 2) < 0.01)
    }
}

/// What waiters were answered with, by id.
private final class Answers: Sendable {
    let m = Mutex<[Int64: [UInt8]]>([:])
    func withLock<R>(_ f: (inout [Int64: [UInt8]]) -> R) -> R { m.withLock { f(&$0) } }
}

@Suite struct ResultCacheTests {
    private func waiter(_ id: Int64, _ got: Answers) -> ResultCache.Waiter {
        ResultCache.Waiter(
            id: .int(id), session: ClientSession(door: .stdio, outlet: DiscardingOutlet()), route: Router.Route(server: "s", tool: "t"),
            params: try! RawObject(Array("{}".utf8)), reply: { bytes in got.withLock { $0[id] = bytes } })
    }

    @Test func keysIgnoreOrderWhitespaceAndIntegralDoubles() {
        let a = ResultCache.key(server: "s", tool: "t", arguments: Array(#"{"b":1,"a":[1,{"y":2,"x":"z"}]}"#.utf8)[...])
        let b = ResultCache.key(server: "s", tool: "t", arguments: Array(#" { "a" : [ 1 , {"x":"z","y":2.0} ] , "b" : 1 } "#.utf8)[...])
        #expect(a != nil && a == b)
        #expect(a != ResultCache.key(server: "s", tool: "t", arguments: Array(#"{"b":2,"a":[1,{"y":2,"x":"z"}]}"#.utf8)[...]))
        #expect(a != ResultCache.key(server: "s2", tool: "t", arguments: Array(#"{"b":1,"a":[1,{"y":2,"x":"z"}]}"#.utf8)[...]))
        #expect(ResultCache.key(server: "s", tool: "t", arguments: nil) == ResultCache.key(server: "s", tool: "t", arguments: Array("null".utf8)[...]))
        #expect(ResultCache.key(server: "s", tool: "t", arguments: Array("{bad".utf8)[...]) == nil)
    }

    @Test func singleFlightHitExpiryAndNoStoreOfErrors() {
        let cache = ResultCache(maxBytes: 1 << 20)
        let got = Answers()
        let now: UInt64 = 10_000_000_000
        guard case .lead = cache.begin("k", waiter: waiter(1, got), now: now) else { Issue.record("first call leads"); return }
        guard case .joined = cache.begin("k", waiter: waiter(2, got), now: now) else { Issue.record("second joins"); return }
        cache.complete("k", server: "s", result: Array("R".utf8), ttl: 1, answer: { Array("answer \($0)".utf8) }, now: now)
        #expect(got.withLock { $0[2] } == Array("answer 2".utf8))
        #expect(got.withLock { $0[1] } == nil)  // the leader answers itself
        guard case .hit(let r) = cache.begin("k", waiter: waiter(3, got), now: now + 500_000_000) else { Issue.record("hit within ttl"); return }
        #expect(r == Array("R".utf8))
        guard case .lead = cache.begin("k", waiter: waiter(4, got), now: now + 1_500_000_000) else { Issue.record("expired"); return }
        cache.complete("k", server: "s", result: nil, ttl: 1, answer: { _ in [] }, now: now + 1_500_000_000)  // an error: not kept
        guard case .lead = cache.begin("k", waiter: waiter(5, got), now: now + 1_600_000_000) else { Issue.record("errors are not kept"); return }
        #expect(cache.abandon("k").isEmpty)
    }

    @Test func abandonedFlightHandsItsWaitersBack() {
        let cache = ResultCache(maxBytes: 1 << 20)
        let got = Answers()
        _ = cache.begin("k", waiter: waiter(1, got))
        _ = cache.begin("k", waiter: waiter(2, got))
        _ = cache.begin("k", waiter: waiter(3, got))
        #expect(cache.abandon("k").map(\.id) == [.int(2), .int(3)])
        guard case .lead = cache.begin("k", waiter: waiter(4, got)) else { Issue.record("a new flight after abandon"); return }
    }

    @Test func leastRecentlyUsedGoFirstAndMemoryStaysBounded() {
        let cache = ResultCache(maxBytes: 2_000)
        let got = Answers()
        let big = Array(repeating: UInt8(ascii: "x"), count: 300)
        for i in 0..<10 {
            _ = cache.begin("k\(i)", waiter: waiter(Int64(i), got))
            cache.complete("k\(i)", server: "s", result: big, ttl: 60, answer: { _ in [] })
            if i == 1 { _ = cache.begin("k0", waiter: waiter(99, got)) }  // k0 used again: newer than k1
            #expect(cache.totalBytes <= 2_000)
        }
        if case .hit = cache.begin("k9", waiter: waiter(100, got)) {} else { Issue.record("the newest is kept") }
        if case .lead = cache.begin("k1", waiter: waiter(101, got)) {} else { Issue.record("an old one went") }
        #expect(cache.flush(server: "other") == 0)
        #expect(cache.flush(server: "s") > 0)
        #expect(cache.totalBytes == 0)
    }
}

@Suite struct CallPolicyTests {
    @Test func tokenBucketAllowsBurstThenRate() {
        let p = CallPolicy(server: "s", cache: nil, rateLimit: .init(callsPerSecond: 2, burst: 3), retryTools: [])
        let t: UInt64 = 5_000_000_000
        #expect(p.admit(now: t) == nil)
        #expect(p.admit(now: t) == nil)
        #expect(p.admit(now: t) == nil)
        let wait = p.admit(now: t)
        #expect(wait != nil && abs(wait! - 0.5) < 0.001)
        #expect(p.admit(now: t + 500_000_000) == nil)  // one token back after 0.5 s
        #expect(p.admit(now: t + 500_000_000) != nil)
        let text = p.overLimitResult(tool: "get", retryAfter: 0.5).jsonString
        #expect(text.contains("rate limit") && text.contains("Retry in 0.5 s") && text.contains("\"isError\":true"))
    }

    @Test func patternsSelectCachedAndRetriedTools() {
        let p = CallPolicy(server: "s", cache: .init(tools: ["get_*", "whoami"], ttl: 1), rateLimit: nil, retryTools: ["list_*"])
        #expect(p.caches("get_page") && p.caches("whoami") && !p.caches("set_page"))
        #expect(p.mayRetry("list_x") && !p.mayRetry("get_page"))
        #expect(p.admit() == nil)  // no rate limit
    }
}

@Suite struct ReplicaConfigTests {
    @Test func configFileUrlsReplicasAndPolicies() throws {
        let loaded = try ConfigFile.parse(
            Array(#"""
            {"mcpServers": {
              "a": {"urls": ["http://127.0.0.1:1/mcp", "http://127.0.0.1:2/mcp"], "loadBalancing": "round-robin"},
              "b": {"replicas": [{"url": "http://127.0.0.1:3/mcp", "weight": 3}, {"command": "srv", "args": ["-x"]}],
                    "retry": {"tools": ["get_*"]}, "cache": {"tools": ["get_*"], "ttl": 2.5}, "rateLimit": {"callsPerSecond": 4}}
            }}
            """#.utf8), file: "f.json", environment: [:])
        let a = loaded.entries.first { $0.config.name == "a" }!.config
        #expect(a.replicas.map(\.url) == ["http://127.0.0.1:1/mcp", "http://127.0.0.1:2/mcp"])
        #expect(a.url == "http://127.0.0.1:1/mcp" && a.loadBalancing == .roundRobin)
        let b = loaded.entries.first { $0.config.name == "b" }!.config
        #expect(b.replicas.map(\.weight) == [3, 1])
        #expect(b.replicas[1].stdio?.command == "srv" && b.replicas[1].stdio?.args == ["-x"])
        #expect(b.loadBalancing == .leastConnections)
        #expect(b.retryTools == ["get_*"] && b.cache == .init(tools: ["get_*"], ttl: 2.5))
        #expect(b.rateLimit == .init(callsPerSecond: 4, burst: 4))
    }

    @Test func serversFlagSplitsReplicasOnBar() throws {
        let servers = try Options.parseServers("main=http://127.0.0.1:1/mcp|http://127.0.0.1:2/mcp,docs=http://127.0.0.1:3/mcp")
        #expect(servers.map(\.name) == ["main", "docs"])
        #expect(servers[0].replicas.map(\.url) == ["http://127.0.0.1:1/mcp", "http://127.0.0.1:2/mcp"])
        #expect(servers[1].replicas.isEmpty && servers[1].url == "http://127.0.0.1:3/mcp")
        #expect(throws: ConfigError.self) { try Options.parseServers("main=http://127.0.0.1:1/mcp|http://127.0.0.1:1/mcp") }
        #expect(throws: ConfigError.self) { try Options.parseServers("main=http://127.0.0.1:1/mcp|") }
    }

    @Test func replicaDifferenceNamesMissingExtraAndChanged() {
        let reference: [String: UInt64] = ["a": 1, "b": 2, "c": 3]
        let mine: [String: UInt64] = ["a": 1, "b": 9, "d": 4]
        let d = MultiServerProxy.ReplicaDifference(mine, reference: reference)
        #expect(d.missing == ["c"] && d.extra == ["d"] && d.changed == ["b"])
        let sig1 = MultiServerProxy.toolSignature([["name": "t", "inputSchema": ["type": "object", "properties": [:]]]])
        let sig2 = MultiServerProxy.toolSignature([["inputSchema": ["properties": [:], "type": "object"], "name": "t"]])
        #expect(sig1 == sig2)
    }
}
