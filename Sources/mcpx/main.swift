import CSupport
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
        // Buffers of a megabyte or more (a tools/list answer with thousands of tools) get their
        // own mapping, returned to the system when freed. Without a fixed threshold glibc raises it
        // after the first such buffer, and the heap keeps their peak size for good.
        _ = mcpx_set_mmap_threshold(1 << 20)
        let code = await MCPXCLI.run(Array(CommandLine.arguments.dropFirst()))
        exit(code)
    }
}
