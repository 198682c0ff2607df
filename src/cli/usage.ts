/** Thrown for a malformed command line: main prints the message and usage, and exits 2. */
export class UsageError extends Error {}

export const USAGE = `Usage: scales <command> [options]

Commands:
  gen <file.thrift...> -o <outDir> [-I <dir>]... [--runtime <specifier>]
      Generate TypeScript (one .ts module per .thrift file, includes too).
      -o, --out <dir>        output directory (created if missing)
      -I, --include <dir>    extra include directory (repeatable)
      --runtime <specifier>  module the generated code imports (default: scales-rpc/thrift)

Options:
  -h, --help      show this help
  -v, --version   print the version
`;
