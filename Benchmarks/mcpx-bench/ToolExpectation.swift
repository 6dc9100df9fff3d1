/// When a tools/list through mcpx is complete: every backend's tools, named `<server>__<tool>`, are in it.
struct ToolExpectation {
    let servers: Set<String>
    let toolsPerServer: Int

    var expected: Int { servers.count * toolsPerServer }

    /// How many listed names belong to the expected servers (mcpx's own tools do not count).
    func backendTools(in names: [String]) -> Int {
        var count = 0
        for name in names {
            guard let separator = name.range(of: "__") else { continue }
            if servers.contains(String(name[..<separator.lowerBound])) { count += 1 }
        }
        return count
    }
}
