/** The `scales` command: `scales gen ...`, `scales zerorpc ...`, `scales queue ...`, `scales --help`, `scales --version`. */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseGenArgs, runGen } from './gen.js';
import { USAGE, UsageError } from './usage.js';

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const stdio: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

function version(): string {
  // ../../package.json from both src/cli/main.ts and dist/cli/main.js.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

/** Runs one command line; resolves to the process exit code (0 ok, 1 failure, 2 bad usage). */
export async function main(argv: readonly string[], io: CliIo = stdio): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      case '-v':
      case '--version':
        io.out(`${version()}\n`);
        return 0;
      case 'gen':
        if (rest.includes('-h') || rest.includes('--help')) {
          io.out(USAGE);
          return 0;
        }
        for (const file of await runGen(parseGenArgs(rest))) io.out(`wrote ${file}\n`);
        return 0;
      case 'zerorpc': {
        if (rest.includes('-h') || rest.includes('--help')) {
          io.out(USAGE);
          return 0;
        }
        const { parseZeroArgs, runZeroRpc } = await import('./zerorpc.js');
        return await runZeroRpc(parseZeroArgs(rest), io);
      }
      case 'queue': {
        if (rest.includes('-h') || rest.includes('--help')) {
          io.out(USAGE);
          return 0;
        }
        const { parseQueueArgs, runQueue } = await import('./queue.js');
        return await runQueue(parseQueueArgs(rest), io);
      }
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`scales: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    io.err(`scales: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) process.exitCode = await main(process.argv.slice(2));
