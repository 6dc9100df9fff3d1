import MCPXCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The executable is a thin shell: parse, pick the command, exit with its code.
@main
struct MCPXMain {
    static func main() async {
        let code = await MCPXCLI.run(Array(CommandLine.arguments.dropFirst()))
        exit(code)
    }
}
