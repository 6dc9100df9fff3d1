import MCPXJSON

/// Servers found in MCP registries (`--registry URL`, config `"registries"`): `manage
/// search_registry` and `manage install`.
extension MultiServerProxy {
    /// `manage search_registry`: matching servers of every registry, one line each, with how they
    /// would run; deleted entries left out.
    func registrySearch(_ query: String) async -> JSONValue {
        guard !settings.registries.isEmpty else {
            return ManagementTools.failure("No registry configured: start mcpx with --registry URL (or \"registries\" in a config file)")
        }
        var lines: [String] = []
        var items: [JSONValue] = []
        var problems: [String] = []
        for url in settings.registries {
            do {
                for e in try await RegistryClient(baseURL: url, loop: loop).search(query, maxItems: 50) {
                    let how = Self.howItRuns(e.server)
                    lines.append("\(e.name)\(e.version.map { " \($0)" } ?? "")\(e.status == "active" ? "" : " [\(e.status)]") — \(ToolIndex.firstSentence(e.description)) — \(how)")
                    items.append(["name": .string(e.name), "version": e.version.map { .string($0) } ?? .null, "description": .string(e.description),
                                  "status": .string(e.status), "runs": .string(how), "registry": .string(Redact.url(url))])
                }
            } catch {
                problems.append(error.message)
            }
        }
        var text = items.isEmpty ? "No server in the registries matches \"\(query)\"." : lines.joined(separator: "\n")
        if !problems.isEmpty { text += "\nRegistry errors: " + problems.joined(separator: "; ") }
        return ManagementTools.result(text, ["servers": .array(items), "errors": .array(problems.map { .string($0) })])
    }

    /// How a registry entry would run: its remote, or its package.
    static func howItRuns(_ s: JSONValue) -> String {
        if let r = s["remotes"]?.arrayValue?.first(where: { ["streamable-http", "sse"].contains($0["type"]?.stringValue ?? "") }) {
            return "remote \(r["type"]?.stringValue ?? "") \(Redact.url(r["url"]?.stringValue ?? "?"))"
        }
        if let p = s["packages"]?.arrayValue?.first {
            return "package \(p["registryType"]?.stringValue ?? "?") \(p["identifier"]?.stringValue ?? "?")\(p["version"]?.stringValue.map { "@\($0)" } ?? "") (a local command: needs --allow-command)"
        }
        return "no remote or package mcpx can run"
    }

    /// `manage install`: the registry entry added as a server (a remote as a URL backend, a package
    /// as a stdio one, which needs --allow-command).
    func registryInstall(_ args: JSONObject, actor: History.Actor) async -> JSONValue {
        guard let registryName = args["registry_name"]?.stringValue else {
            return ManagementTools.failure("manage install needs \"registry_name\" (see manage search_registry)")
        }
        guard !settings.registries.isEmpty else { return ManagementTools.failure("No registry configured: start mcpx with --registry URL") }
        let version = args["version"]?.stringValue
        var entry: RegistryClient.Entry?
        var problems: [String] = []
        for url in settings.registries {
            do {
                entry = try await RegistryClient(baseURL: url, loop: loop).show(registryName, version: version)
                break
            } catch {
                problems.append(error.message)
            }
        }
        guard let entry else { return ManagementTools.failure("\(registryName) was not found: \(problems.joined(separator: "; "))") }
        if entry.status == "deleted" { return ManagementTools.failure("\(registryName) is deleted in the registry") }
        let values = args["values"]?.objectValue ?? [:]
        switch Self.plan(entry.server, values: values, name: args["name"]?.stringValue) {
        case .failure(let why):
            return ManagementTools.failure("Cannot install \(registryName): \(why.message)")
        case .success(let (config, secrets)):
            if let problem = checkAllowed(config) { return ManagementTools.failure("Cannot install \(registryName): \(problem)") }
            Redact.register(secrets)
            return await add(config, actor: actor, action: "install")
        }
    }

    /// The server an entry becomes, and the secret values it was given.
    static func plan(_ s: JSONValue, values: JSONObject, name: String?) -> Result<(ServerConfig, [String]), InstallProblem> {
        let registryName = s["name"]?.stringValue ?? "server"
        let serverName = name ?? Self.serverName(from: registryName)
        if let problem = ToolNaming.validateServerName(serverName) { return .failure(InstallProblem("\(problem); give \"name\"")) }
        var secrets: [String] = []
        func value(_ key: String, _ spec: JSONValue?, given: String? = nil) -> Result<String?, InstallProblem> {
            if let v = values[key]?.stringValue ?? given ?? spec?["value"]?.stringValue ?? spec?["default"]?.stringValue {
                if spec?["isSecret"]?.boolValue == true { secrets.append(v) }
                return .success(v)
            }
            if spec?["isRequired"]?.boolValue == true { return .failure(InstallProblem("a value for \"\(key)\" is required (give it in \"values\")")) }
            return .success(nil)
        }
        if let r = s["remotes"]?.arrayValue?.first(where: { ["streamable-http", "sse"].contains($0["type"]?.stringValue ?? "") }),
            var url = r["url"]?.stringValue
        {
            // {variables} of the URL.
            let vars = r["variables"]?.objectValue ?? [:]
            for (k, spec) in vars {
                switch value(k, spec) {
                case .failure(let m): return .failure(m)
                case .success(let v?): url = url.replacingAll("{\(k)}", with: v)
                case .success(nil): break
                }
            }
            if url.contains("{") { return .failure(InstallProblem("the URL \(Redact.url(url)) has a variable with no value (give it in \"values\")")) }
            var config = ServerConfig(name: serverName, url: url)
            config.transport = r["type"]?.stringValue == "sse" ? .sse : .streamableHTTP
            for h in r["headers"]?.arrayValue ?? [] {
                guard let hn = h["name"]?.stringValue else { continue }
                switch value(hn, h) {
                case .failure(let m): return .failure(m)
                case .success(var v?):
                    for (k, _) in vars { if let given = values[k]?.stringValue { v = v.replacingAll("{\(k)}", with: given) } }
                    config.headers.append((name: hn, value: v))
                case .success(nil): break
                }
            }
            return .success((config, secrets))
        }
        guard let p = s["packages"]?.arrayValue?.first(where: { ($0["transport"]?["type"]?.stringValue ?? "stdio") == "stdio" }),
            let id = p["identifier"]?.stringValue, let type = p["registryType"]?.stringValue
        else { return .failure(InstallProblem("it has no streamable-http or sse remote, and no stdio package")) }
        let version = p["version"]?.stringValue
        var command: String
        var args: [String]
        var env: [(name: String, value: String)] = []
        for e in p["environmentVariables"]?.arrayValue ?? [] {
            guard let n = e["name"]?.stringValue else { continue }
            switch value(n, e) {
            case .failure(let m): return .failure(m)
            case .success(let v?): env.append((name: n, value: v))
            case .success(nil): break
            }
        }
        switch type {
        case "npm":
            command = "npx"
            args = ["-y", version.map { "\(id)@\($0)" } ?? id]
        case "pypi":
            command = "uvx"
            args = [version.map { "\(id)==\($0)" } ?? id]
        case "oci":
            command = "docker"
            args = ["run", "-i", "--rm", "--init"] + env.flatMap { ["-e", $0.name] } + [id]
        default:
            return .failure(InstallProblem("its package type \"\(type)\" is not one mcpx runs (npm, pypi, oci)"))
        }
        for a in p["packageArguments"]?.arrayValue ?? [] {
            let key = a["name"]?.stringValue ?? a["valueHint"]?.stringValue ?? "argument"
            switch value(key, a) {
            case .failure(let m): return .failure(m)
            case .success(let v?):
                if a["type"]?.stringValue == "named", let n = a["name"]?.stringValue { args.append(n) }
                args.append(v)
            case .success(nil): break
            }
        }
        command = command.trimmingWhitespace()
        var spec = ServerConfig.StdioSpec(command: command, args: args)
        spec.env = env
        return .success((ServerConfig(name: serverName, stdio: spec), secrets))
    }

    /// A server name from a registry name (`io.github.user/weather` → `weather`).
    static func serverName(from registryName: String) -> String {
        let last = registryName.split(separator: "/").last.map(String.init) ?? registryName
        var out = String(last.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "-" }.prefix(32))
        while out.hasSuffix("_") || out.hasSuffix("-") { out.removeLast() }
        while out.contains("__") { out = out.replacingAll("__", with: "_") }
        return out.isEmpty ? "server" : out
    }
}

/// Why a registry entry cannot be installed.
struct InstallProblem: Error {
    var message: String
    init(_ m: String) { message = m }
}
