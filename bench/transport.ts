/**
 * Transport benchmark: pipelined echo between two processes over loopback TCP, both ends using
 * Scales' Connection (u32 length-prefixed frames, batched writes). The client keeps `inFlight`
 * frames outstanding and sends a new one for each echo received.
 *   npx tsx bench/transport.ts             # default flush scheduling
 *   npx tsx bench/transport.ts --compare   # nextTick vs queueMicrotask vs setImmediate, sync and
 *                                          # async replies, and a raw-socket baseline (~90 s)
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
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
  /**
   * The echo server mixes sync and async handlers: frame i is answered after i % 3 awaits, so
   * replies of one chunk are written in three microtask waves (default false: all synchronous).
   */
  asyncReplies?: boolean;
  /** `raw`: hand-written Node sockets with batched writes, the baseline (default `scales`). */
  impl?: 'scales' | 'raw';
}

interface ChildConfig {
  scheduling: FlushScheduling;
  asyncReplies: boolean;
  impl: 'scales' | 'raw';
}

export interface TransportBenchResult {
  impl: 'scales' | 'raw';
  scheduling: FlushScheduling;
  asyncReplies: boolean;
  inFlight: number;
  frameBytes: number;
  seconds: number;
  msgsPerSec: number;
  /** Client process CPU (user + system) per echoed message: steadier than msgs/s on a busy machine. */
  clientCpuNsPerMsg: number;
}

const CHILD_ENV = 'SCALES_TRANSPORT_BENCH_ECHO';
const here = dirname(fileURLToPath(import.meta.url));
const WARMUP_MS = 500;

/** Child process: echo every frame back on the same connection. Prints its port. */
async function runEchoServer(cfg: ChildConfig): Promise<void> {
  setFlushScheduling(cfg.scheduling);
  const exit = (): void => void listener.close(0).then(() => process.exit(0));
  const listener = await listenTcp({
    onConnection: (socket) => {
      if (cfg.impl === 'raw') {
        rawFrames(socket, (m) => rawSend(socket, m), exit);
        return;
      }
      const conn = new Connection(socket, { framing: { kind: 'length-prefixed' } });
      const reply = (m: Buffer): void => {
        const mark = conn.beginMessage();
        conn.writer.writeBytes(m);
        conn.endMessage(mark);
      };
      let n = 0;
      const mixed = async (m: Buffer): Promise<void> => {
        for (let d = n++ % 3; d > 0; d--) await null;
        reply(m);
      };
      conn.onMessage = cfg.asyncReplies ? (m) => void mixed(m) : reply;
      conn.onClose = exit;
    },
  });
  process.stdout.write(`${listener.port}\n`);
}

// ---- the raw baseline: the least a Node program can do (u32 frames, one write per turn) ----
const rawBatches = new Map<net.Socket, Buffer[]>();
function rawSend(socket: net.Socket, payload: Buffer): void {
  let batch = rawBatches.get(socket);
  if (batch === undefined) {
    batch = [];
    rawBatches.set(socket, batch);
    process.nextTick(() => {
      rawBatches.delete(socket);
      if (!socket.destroyed) socket.write(Buffer.concat(batch!));
    });
  }
  const h = Buffer.allocUnsafe(4);
  h.writeUInt32BE(payload.length);
  batch.push(h, payload);
}
function rawFrames(socket: net.Socket, onFrame: (m: Buffer) => void, onClose: () => void): void {
  let pending: Buffer | undefined;
  socket.on('data', (chunk: Buffer) => {
    const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    let off = 0;
    while (buf.length - off >= 4) {
      const end = off + 4 + buf.readUInt32BE(off);
      if (end > buf.length) break;
      onFrame(buf.subarray(off + 4, end));
      off = end;
    }
    pending = off < buf.length ? buf.subarray(off) : undefined;
  });
  socket.on('close', onClose);
  socket.on('error', () => undefined);
}

export async function runTransportBench(options: TransportBenchOptions = {}): Promise<TransportBenchResult> {
  const durationMs = options.durationMs ?? 3000;
  const inFlight = options.inFlight ?? 100;
  const frameBytes = options.frameBytes ?? 100;
  const cfg: ChildConfig = { scheduling: options.scheduling ?? getFlushScheduling(), asyncReplies: options.asyncReplies ?? false, impl: options.impl ?? 'scales' };
  const previous = getFlushScheduling();
  setFlushScheduling(cfg.scheduling);

  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'transport.ts')], {
    cwd: join(here, '..'),
    env: { ...process.env, [CHILD_ENV]: JSON.stringify(cfg) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const lines = createInterface({ input: child.stdout! });
    const [line] = (await once(lines, 'line')) as [string];
    lines.close();
    const port = Number(line);
    const payload = Buffer.alloc(frameBytes, 7);
    let received = 0;
    let running = true;
    let send: () => void;
    let stop: () => Promise<void>;
    if (cfg.impl === 'raw') {
      const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
      await once(socket, 'connect');
      send = () => rawSend(socket, payload);
      rawFrames(
        socket,
        () => {
          received++;
          if (running) send();
        },
        () => undefined,
      );
      stop = async () => void socket.destroy();
    } else {
      const conn = await Connection.connect('127.0.0.1', port, { framing: { kind: 'length-prefixed' } });
      send = () => {
        const mark = conn.beginMessage();
        conn.writer.writeBytes(payload);
        conn.endMessage(mark);
      };
      conn.onMessage = () => {
        received++;
        if (running) send();
      };
      stop = () => conn.end(1000);
    }
    for (let i = 0; i < inFlight; i++) send();

    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const startCount = received;
    const start = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    await new Promise((r) => setTimeout(r, durationMs));
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const count = received - startCount;
    running = false;
    await stop();
    const clientCpuNsPerMsg = Math.round(((cpu.user + cpu.system) * 1000) / count);
    return { ...cfg, inFlight, frameBytes, seconds, msgsPerSec: Math.round(count / seconds), clientCpuNsPerMsg };
  } finally {
    setFlushScheduling(previous);
    if (child.exitCode === null) child.kill();
  }
}

const fmt = (n: number): string => n.toLocaleString('en-US');

/**
 * Runs every variant `rounds` times, interleaved (a shared 2-core machine drifts a lot between
 * runs), and prints the median and range of each.
 */
async function compare(rounds: number, durationMs: number): Promise<void> {
  const variants: TransportBenchOptions[] = [];
  for (const asyncReplies of [false, true]) {
    for (const scheduling of ['nextTick', 'microtask', 'immediate'] as const) variants.push({ scheduling, asyncReplies });
  }
  variants.push({ impl: 'raw' });
  const results = variants.map(() => [] as TransportBenchResult[]);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < variants.length; i++) results[i]!.push(await runTransportBench({ ...variants[i], durationMs }));
  }
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!;
  for (let i = 0; i < variants.length; i++) {
    const v = variants[i]!;
    const rate = results[i]!.map((x) => x.msgsPerSec).sort((a, b) => a - b);
    const cpu = median(results[i]!.map((x) => x.clientCpuNsPerMsg));
    const label = v.impl === 'raw' ? 'raw node baseline (batched)' : `flush=${v.scheduling}${v.asyncReplies ? ', mixed async replies' : ''}`;
    console.log(`${label.padEnd(32)} median ${fmt(median(rate)).padStart(10)} msgs/s (${fmt(rate[0]!)} .. ${fmt(rate[rate.length - 1]!)}), client CPU ${cpu} ns/msg`);
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--compare')) {
    await compare(5, 2000);
    return;
  }
  const r = await runTransportBench();
  console.log(`transport echo (${r.inFlight} in flight, ${r.frameBytes}-byte frames, 2 processes, flush=${r.scheduling}): ${fmt(r.msgsPerSec)} msgs/s, client CPU ${r.clientCpuNsPerMsg} ns/msg`);
}

const childConfig = process.env[CHILD_ENV];
if (childConfig !== undefined) {
  void runEchoServer(JSON.parse(childConfig) as ChildConfig);
} else if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
