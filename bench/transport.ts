/**
 * Transport benchmark: pipelined echo between two processes over loopback TCP, both ends using
 * Scales' Connection (u32 length-prefixed frames, batched writes). The client keeps `inFlight`
 * frames outstanding and sends a new one for each echo received.
 *   npx tsx bench/transport.ts             # default flush scheduling
 *   npx tsx bench/transport.ts --compare   # nextTick vs queueMicrotask vs setImmediate
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Connection, getFlushScheduling, listenTcp, setFlushScheduling, type FlushScheduling } from '../src/transport/index.js';

export interface TransportBenchOptions {
  durationMs?: number;
  inFlight?: number;
  frameBytes?: number;
  /** Used by both processes (default: the library default). */
  scheduling?: FlushScheduling;
}

export interface TransportBenchResult {
  scheduling: FlushScheduling;
  inFlight: number;
  frameBytes: number;
  seconds: number;
  msgsPerSec: number;
}

const CHILD_ENV = 'SCALES_TRANSPORT_BENCH_ECHO';
const here = dirname(fileURLToPath(import.meta.url));
const WARMUP_MS = 500;

/** Child process: echo every frame back on the same connection. Prints its port. */
async function runEchoServer(scheduling: FlushScheduling): Promise<void> {
  setFlushScheduling(scheduling);
  const listener = await listenTcp({
    onConnection: (socket) => {
      const conn = new Connection(socket, { framing: { kind: 'length-prefixed' } });
      conn.onMessage = (m) => {
        const mark = conn.beginMessage();
        conn.writer.writeBytes(m);
        conn.endMessage(mark);
      };
      conn.onClose = () => void listener.close(0).then(() => process.exit(0));
    },
  });
  process.stdout.write(`${listener.port}\n`);
}

export async function runTransportBench(options: TransportBenchOptions = {}): Promise<TransportBenchResult> {
  const durationMs = options.durationMs ?? 3000;
  const inFlight = options.inFlight ?? 100;
  const frameBytes = options.frameBytes ?? 100;
  const scheduling = options.scheduling ?? getFlushScheduling();
  const previous = getFlushScheduling();
  setFlushScheduling(scheduling);

  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'transport.ts')], {
    cwd: join(here, '..'),
    env: { ...process.env, [CHILD_ENV]: scheduling },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await once(lines, 'line')) as [string];
    lines.close();
    const conn = await Connection.connect('127.0.0.1', Number(line), { framing: { kind: 'length-prefixed' } });
    const payload = Buffer.alloc(frameBytes, 7);
    let received = 0;
    let running = true;
    const send = (): void => {
      const mark = conn.beginMessage();
      conn.writer.writeBytes(payload);
      conn.endMessage(mark);
    };
    conn.onMessage = () => {
      received++;
      if (running) send();
    };
    for (let i = 0; i < inFlight; i++) send();

    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const startCount = received;
    const start = process.hrtime.bigint();
    await new Promise((r) => setTimeout(r, durationMs));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const count = received - startCount;
    running = false;
    await conn.end(1000);
    return { scheduling, inFlight, frameBytes, seconds, msgsPerSec: Math.round(count / seconds) };
  } finally {
    setFlushScheduling(previous);
    if (child.exitCode === null) child.kill();
  }
}

async function main(): Promise<void> {
  const kinds: FlushScheduling[] = process.argv.includes('--compare') ? ['nextTick', 'microtask', 'immediate'] : [getFlushScheduling()];
  for (const scheduling of kinds) {
    const r = await runTransportBench({ scheduling });
    console.log(`transport echo (${r.inFlight} in flight, ${r.frameBytes}-byte frames, 2 processes, flush=${r.scheduling}): ${r.msgsPerSec.toLocaleString('en-US')} msgs/s`);
  }
}

const childScheduling = process.env[CHILD_ENV] as FlushScheduling | undefined;
if (childScheduling !== undefined) {
  void runEchoServer(childScheduling);
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
