/** Thrown for a malformed command line: main prints the message and usage, and exits 2. */
export class UsageError extends Error {}

export const USAGE = `Usage: scales <command> [options]

Commands:
  gen <file.thrift...> -o <outDir> [-I <dir>]... [--runtime <specifier>]
      Generate TypeScript (one .ts module per .thrift file, includes too; a directory
      stands for every .thrift file under it).
      -o, --out <dir>        output directory (created if missing)
      -I, --include <dir>    extra include directory (repeatable)
      --runtime <specifier>  module the generated code imports (default: scales-rpc/thrift)

  zerorpc [--client] [--connect ADDR]... [--timeout S] [--heartbeat S] [-j] [-pj] [-?] [ADDRESS] [METHOD [ARGS...]]
      Call a ZeroRPC server (needs npm zeromq@6). No METHOD: list the methods with their first
      doc line; -? signatures (with METHOD: its signature and doc). ARGS are strings, or JSON
      with -j; -pj prints JSON; stream items one per line; a remote error prints its traceback, exit 1.
  zerorpc --server (--bind ADDR | --connect ADDR)... [--heartbeat S] <module>[:export]
      Serve a module's export (a class is instantiated) until SIGINT/SIGTERM.

Options:
  -h, --help      show this help
  -v, --version   print the version
`;
