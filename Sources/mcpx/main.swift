import Foundation
import MCPXCore

/// The executable is a thin shell: parse, pick the command, exit with its code.
@main
struct MCPXMain {
    static func main() async {
        let code = await MCPXCLI.run(Array(CommandLine.arguments.dropFirst()))
        exit(code)
    }
}
