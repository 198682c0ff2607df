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

  queue peek <dest> --idl <file.thrift> [--service S] [--count N] [--dead] [--group G]
      Print the next message(s) of a queue as JSON (the call decoded with the IDL, its
      attributes), leaving them where they are; --dead reads the dead-letter queue.
  queue send <dest> --idl <file.thrift> Service.method '<json args>'
      Enqueue one call (a oneway or void method); args as a JSON object by name or an array.
  queue purge <dest> --yes [--dead]
      Delete every message of the queue (or its dead-letter queue); refused without --yes.
  queue stats <dest> [--group G]
      Depth, in flight, delayed and dead-lettered, as JSON (null: the broker cannot tell).
      <dest>: redis://host:port/stream, sqs://name, sqs+http://host:port/account/name,
      nats://host:port/stream (docs/queue.md).

Options:
  -h, --help      show this help
  -v, --version   print the version
`;
