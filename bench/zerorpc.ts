/**
 * ZeroRPC benchmark, one run, every pair in its own client and server processes over loopback:
 *   raw zeromq DEALER/ROUTER echo of an event-sized message (the binding's ceiling: no msgpack, no
 *   RPC), the same raw echo over our own ZMTP, a ZeroRPC event echo over our ZMTP with no channels
 *   or stacks (what the Python peer does), our client session without the client stack, Scales
 *   client → Scales server `echo(item)` on each transport (`zmtp`: ours, `zeromq`: the npm
 *   binding), and the Python peers (test/peers/zerorpc_peer.py: python3-zmq + msgpack, a minimal
 *   zerorpc-style echo) in each combination; then stream items/s (Scales → Scales `count`). 100
 *   calls in flight (BENCH_IN_FLIGHT), every reply checked. CPU per call: the client's own over
 *   its window, the server's read from /proc over the same window; write system calls per 100
 *   calls on each side likewise (/proc/<pid>/io syscw: how many messages each write carries).
 *
 *   npx tsc -p tsconfig.build.json && npx tsx bench/zerorpc.ts     # Scales from dist/ (what ships)
 *   BENCH_FROM_SRC=1 npx tsx bench/zerorpc.ts                      # from the sources through tsx
 *   BENCH_SECONDS=3 BENCH_ROUNDS=2                                   # window and rounds (defaults 3, 2)
 *   BENCH_PAIRS=ZMTP                                                 # only pairs whose name has it (and the two references)
 *   BENCH_IN_FLIGHT=1000                                             # calls in flight (default 100)
 *   BENCH_AB=../../tmp/base/dist BENCH_PAIRS='Scales → Scales, ZMTP'  # A/B: each pair alternately on dist/ and that build
 *   BENCH_PIN=0,1                                                    # server on CPU 0, clients on CPU 1 (bench/peers/pin.ts)
 *   BENCH_CPU_PROF=/tmp/prof                                         # a .cpuprofile per Node peer process (bench/profile.ts reads them)
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pinnedCommand } from './peers/pin.js';
import { loadScales, scalesBuild } from './peers/runtime.js';

type ZeroIndex = typeof import('../src/protocols/zerorpc/index.js');
type Dealer = typeof import('../src/protocols/zerorpc/zmtp/dealer.js');
type Router = typeof import('../src/protocols/zerorpc/zmtp/router.js');
type Events = typeof import('../src/protocols/zerorpc/events.js');
type Session = typeof import('../src/protocols/zerorpc/session.js');
type Service = typeof import('../src/core/service.js');
type Transport = 'zmtp' | 'zeromq';

const here = dirname(fileURLToPath(import.meta.url));
const PY_PEER = join(here, '..', 'test', 'peers', 'zerorpc_peer.py');
const PYTHON = '/usr/bin/python3';
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 3);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 2);
const IN_FLIGHT = Number(process.env['BENCH_IN_FLIGHT'] ?? 100);
const ITEM = { id: 42, name: 'Ada', tags: ['a', 'b'], score: 1.5 };

interface ClientResult {
  calls: number;
  seconds: number;
  mismatches?: number;
  cpuUsPerCall?: number;
  /** The server process's CPU over the same window, per call (read from /proc by the orchestrator). */
  serverCpuUsPerCall?: number;
  /** write/writev system calls per 100 calls over the window (/proc/<pid>/io syscw): how well writes are gathered. */
  writesPer100?: number;
  serverWritesPer100?: number;
}

// ---- roles (child processes) -------------------------------------------------------------------

async function rawServer(): Promise<void> {
  const zmq = await import('zeromq');
  const sock = new zmq.Router({ linger: 0 });
  await sock.bind('tcp://127.0.0.1:*');
  console.log(`READY ${sock.lastEndpoint}`);
  for await (const frames of sock) await sock.send(frames);
}

async function rawClient(endpoint: string): Promise<ClientResult> {
  const zmq = await import('zeromq');
  const { encodeEvent, MessageIds } = await loadScales<ZeroIndex>('protocols/zerorpc/index.js');
  const sock = new zmq.Dealer({ linger: 0 });
  sock.connect(endpoint);
  const ids = new MessageIds();
  const empty = Buffer.alloc(0);
  const payload = Buffer.from(encodeEvent({ message_id: ids.next(), v: 3 }, 'echo', [ITEM]));
  let done = 0;
  let counting = false;
  // One writer (zeromq allows one send at a time): IN_FLIGHT messages out, one more per echo.
  const pending: Buffer[][] = [];
  let writing = false;
  const send = async () => {
    if (writing) return;
    writing = true;
    while (pending.length > 0) await sock.send(pending.shift()!);
    writing = false;
  };
  for (let i = 0; i < IN_FLIGHT; i++) pending.push([empty, payload]);
  void send();
  return measure(
    async (stop) => {
      for await (const frames of sock) {
        if (frames[frames.length - 1]!.length !== payload.length) throw new Error('raw echo mismatch');
        if (counting) done++;
        if (stop()) break;
        pending.push([empty, payload]);
        void send();
      }
    },
    () => (counting = true),
    () => done,
  );
}

async function rawZmtpServer(): Promise<void> {
  const { ZmtpRouter } = await loadScales<Router>('protocols/zerorpc/zmtp/router.js');
  let send: (frames: Buffer[]) => void = () => {};
  const router = await ZmtpRouter.bind(['tcp://127.0.0.1:*'], {}, { message: (head, buf, start, end) => send([...head, buf.subarray(start, end)]), peerError: () => {} });
  send = (frames) => router.send(frames);
  console.log(`READY ${router.endpoints[0]}`);
}

async function rawZmtpClient(endpoint: string): Promise<ClientResult> {
  const { ZmtpDealer } = await loadScales<Dealer>('protocols/zerorpc/zmtp/dealer.js');
  const { encodeEvent, MessageIds } = await loadScales<ZeroIndex>('protocols/zerorpc/index.js');
  const payload = Buffer.from(encodeEvent({ message_id: new MessageIds().next(), v: 3 }, 'echo', [ITEM]));
  const empty = Buffer.alloc(0);
  const m = /^tcp:\/\/([^:]+):(\d+)$/.exec(endpoint)!;
  let done = 0;
  let counting = false;
  let stopped: () => boolean = () => false;
  let finish: () => void = () => {};
  const dealer = await ZmtpDealer.connect(
    m[1]!,
    Number(m[2]),
    5000,
    {},
    {
      message: (_head, _buf, start, end) => {
        if (end - start !== payload.length) throw new Error('raw echo mismatch');
        if (counting) done++;
        if (stopped()) return finish();
        dealer.send([empty, payload]);
      },
      end: () => {},
    },
  );
  return measure(
    (stop) =>
      new Promise<void>((resolve) => {
        stopped = stop;
        finish = resolve;
        for (let i = 0; i < IN_FLIGHT; i++) dealer.send([empty, payload]);
      }),
    () => (counting = true),
    () => done,
  );
}

/** A ZeroRPC echo with no RPC layer (as the Python peer is): decode the request, answer OK [args[0]] on its channel. */
async function codecZmtpServer(): Promise<void> {
  const { ZmtpRouter } = await loadScales<Router>('protocols/zerorpc/zmtp/router.js');
  const { EventReader, writeReply, MessageIds } = await loadScales<Events>('protocols/zerorpc/events.js');
  const reader = new EventReader();
  const ids = new MessageIds();
  let router: import('../src/protocols/zerorpc/zmtp/router.js').ZmtpRouter | undefined;
  router = await ZmtpRouter.bind(
    ['tcp://127.0.0.1:*'],
    {},
    {
      message: (head, buf, start, end) => {
        const ev = reader.event(buf, start, end);
        // Encoded straight into the connection's outgoing buffer.
        writeReply(router!.startMessage(head), ids, ev.header.message_id, 'OK', [(ev.args as unknown[])[0]]);
        router!.endMessage();
      },
      peerError: () => {},
    },
  );
  console.log(`READY ${router.endpoints[0]}`);
}

/** The matching client: encode each request, decode and check each reply, no channels or stack. */
async function codecZmtpClient(endpoint: string): Promise<ClientResult> {
  const { ZmtpDealer } = await loadScales<Dealer>('protocols/zerorpc/zmtp/dealer.js');
  const { EventReader, writeRequest, MessageIds } = await loadScales<Events>('protocols/zerorpc/events.js');
  const reader = new EventReader();
  const ids = new MessageIds();
  const envelope = [Buffer.alloc(0)];
  const request = () => {
    writeRequest(dealer.startMessage(envelope), ids, ids.take(), 'echo', [ITEM]);
    dealer.endMessage();
  };
  const m = /^tcp:\/\/([^:]+):(\d+)$/.exec(endpoint)!;
  let done = 0;
  let mismatches = 0;
  let counting = false;
  let stopped: () => boolean = () => false;
  let finish: () => void = () => {};
  const dealer = await ZmtpDealer.connect(
    m[1]!,
    Number(m[2]),
    5000,
    {},
    {
      message: (_head, buf, start, end) => {
        const ev = reader.event(buf, start, end);
        const r = (ev.args as (typeof ITEM)[])[0]!;
        if (ev.name !== 'OK' || r.id !== 42 || r.name !== 'Ada' || r.tags.length !== 2) mismatches++;
        if (counting) done++;
        if (stopped()) return finish();
        request();
      },
      end: () => {},
    },
  );
  const result = await measure(
    (stop) =>
      new Promise<void>((resolve) => {
        stopped = stop;
        finish = resolve;
        for (let i = 0; i < IN_FLIGHT; i++) request();
      }),
    () => (counting = true),
    () => done,
  );
  return { ...result, mismatches };
}

/** A ZeroRPC client session (channels, heartbeats, codec) without the client stack above it, driven by reply callbacks. */
async function sessionClient(endpoint: string): Promise<ClientResult> {
  const { ZeroClientSession } = await loadScales<Session>('protocols/zerorpc/session.js');
  const { CallContext } = await loadScales<Service>('core/service.js');
  const m = /^tcp:\/\/([^:]+):(\d+)$/.exec(endpoint)!;
  const session = await ZeroClientSession.connect({ host: m[1]!, port: Number(m[2]) }, 5000);
  const req = { method: 'echo', args: [ITEM] };
  let done = 0;
  let mismatches = 0;
  let counting = false;
  const result = await measure(
    (stop) =>
      new Promise<void>((resolve, reject) => {
        let running = IN_FLIGHT;
        const handler = {
          onReply: (r: unknown) => {
            const x = r as typeof ITEM;
            if (x.id !== 42 || x.name !== 'Ada' || x.tags.length !== 2) mismatches++;
            if (counting) done++;
            if (stop()) {
              if (--running === 0) resolve();
              return;
            }
            session.dispatch(req, new CallContext('echo', undefined, undefined), handler);
          },
          onError: reject,
        };
        for (let i = 0; i < IN_FLIGHT; i++) session.dispatch(req, new CallContext('echo', undefined, undefined), handler);
      }),
    () => (counting = true),
    () => done,
  );
  return { ...result, mismatches };
}

async function scalesServer(transport: Transport): Promise<void> {
  const { ZeroRpc, stream } = await loadScales<ZeroIndex>('protocols/zerorpc/index.js');
  const server = await ZeroRpc.serve(
    {
      echo: (x: unknown) => x,
      count: stream(function* (n: number) {
        for (let i = 0; i < n; i++) yield i;
      }),
    },
    { bind: 'tcp://127.0.0.1:*', quiet: true, transport },
  );
  console.log(`READY ${server.endpoints[0]}`);
}

async function scalesClient(endpoint: string, transport: Transport): Promise<ClientResult> {
  const { ZeroRpc } = await loadScales<ZeroIndex>('protocols/zerorpc/index.js');
  const client = ZeroRpc.newClient<{ echo(x: typeof ITEM): typeof ITEM }>(endpoint, { transport });
  await client.echo(ITEM);
  let done = 0;
  let mismatches = 0;
  let counting = false;
  const result = await measure(
    async (stop) => {
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          while (!stop()) {
            const r = await client.echo(ITEM);
            if (r.id !== 42 || r.name !== 'Ada' || r.tags.length !== 2) mismatches++;
            if (counting) done++;
          }
        }),
      );
    },
    () => (counting = true),
    () => done,
  );
  return { ...result, mismatches };
}

async function scalesStreamClient(endpoint: string, transport: Transport): Promise<ClientResult> {
  const { ZeroRpc } = await loadScales<ZeroIndex>('protocols/zerorpc/index.js');
  const client = ZeroRpc.newClient<{ count(n: number): Iterable<number> }>(endpoint, { transport });
  let done = 0;
  let mismatches = 0;
  let counting = false;
  return measure(
    async (stop) => {
      while (!stop()) {
        let expect = 0;
        for await (const x of await client.count(100_000)) {
          if (x !== expect++) mismatches++;
          if (counting) done++;
          if ((done & 1023) === 0 && stop()) break;
        }
      }
    },
    () => (counting = true),
    () => done,
  ).then((r) => ({ ...r, mismatches }));
}

/** 1 s warm-up, then SECONDS measured; CPU of this process per counted call. */
async function measure(run: (stop: () => boolean) => Promise<void>, startCounting: () => void, count: () => number): Promise<ClientResult> {
  let stopped = false;
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  let calls = 0;
  let seconds = 0;
  let cpuUs = 0;
  let writes0 = 0;
  let writes = 0;
  setTimeout(() => {
    startCounting();
    // The orchestrator reads the server's CPU at these marks (its µs per call).
    console.log('MARK start');
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    writes0 = writeCalls('self');
    setTimeout(() => {
      calls = count();
      seconds = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(cpu0);
      cpuUs = c.user + c.system;
      writes = writeCalls('self') - writes0;
      console.log('MARK stop');
      stopped = true;
    }, SECONDS * 1000);
  }, 1000);
  await run(() => stopped);
  return { calls, seconds, cpuUsPerCall: calls > 0 ? cpuUs / calls : 0, writesPer100: calls > 0 ? (100 * writes) / calls : 0 };
}

/** write/writev system calls a process made so far (Linux /proc/<pid>/io). */
function writeCalls(pid: number | 'self'): number {
  const m = /^syscw: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'latin1'));
  return m === null ? 0 : Number(m[1]);
}

// ---- orchestration -----------------------------------------------------------------------------

interface Peer {
  cmd: string;
  args: string[];
}

const self = (role: string, ...rest: string[]): Peer => ({
  cmd: process.execPath,
  args: [...(process.env['BENCH_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CPU_PROF']}`] : []), '--import', 'tsx', fileURLToPath(import.meta.url), role, ...rest],
});
const py = (mode: string, ...rest: string[]): Peer => ({ cmd: PYTHON, args: ['-u', PY_PEER, mode, ...rest] });

interface Pair {
  name: string;
  server: Peer;
  client: (endpoint: string) => Peer;
  unit: string;
}

const pyClient = (e: string) => py('echo-client', '--connect', e, '--seconds', String(SECONDS), '--inflight', String(IN_FLIGHT));

/** The first is the binding's ceiling, the Python pair the reference: the ratio columns divide by them. */
const PAIRS: Pair[] = [
  { name: 'raw zeromq DEALER/ROUTER echo, no RPC (the binding ceiling)', server: self('raw-server'), client: (e) => self('raw-client', e), unit: 'msgs/s' },
  { name: 'raw ZMTP DEALER/ROUTER echo (ours), no RPC', server: self('raw-zmtp-server'), client: (e) => self('raw-zmtp-client', e), unit: 'msgs/s' },
  { name: 'Python peer → Python peer', server: py('echo-server'), client: pyClient, unit: 'calls/s' },
  { name: 'ZeroRPC events over our ZMTP, no channels or stacks (codec echo, as the Python peer)', server: self('codec-zmtp-server'), client: (e) => self('codec-zmtp-client', e), unit: 'calls/s' },
  { name: 'Scales session, no client stack → Scales server, ZMTP', server: self('scales-server', 'zmtp'), client: (e) => self('session-client', e), unit: 'calls/s' },
  { name: 'Scales → Scales, zeromq binding', server: self('scales-server', 'zeromq'), client: (e) => self('scales-client', e, 'zeromq'), unit: 'calls/s' },
  { name: 'Scales → Scales, ZMTP', server: self('scales-server', 'zmtp'), client: (e) => self('scales-client', e, 'zmtp'), unit: 'calls/s' },
  { name: 'Scales → Python server, zeromq binding', server: py('echo-server'), client: (e) => self('scales-client', e, 'zeromq'), unit: 'calls/s' },
  { name: 'Scales → Python server, ZMTP', server: py('echo-server'), client: (e) => self('scales-client', e, 'zmtp'), unit: 'calls/s' },
  { name: 'Python client → Scales server, zeromq binding', server: self('scales-server', 'zeromq'), client: pyClient, unit: 'calls/s' },
  { name: 'Python client → Scales server, ZMTP', server: self('scales-server', 'zmtp'), client: pyClient, unit: 'calls/s' },
  { name: 'stream items, Scales → Scales (count), zeromq binding', server: self('scales-server', 'zeromq'), client: (e) => self('stream-client', e, 'zeromq'), unit: 'items/s' },
  { name: 'stream items, Scales → Scales (count), ZMTP', server: self('scales-server', 'zmtp'), client: (e) => self('stream-client', e, 'zmtp'), unit: 'items/s' },
];

/** User + system CPU of a process so far, µs (Linux /proc; clock ticks of 10 ms). */
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function runPair(p: Pair, env: NodeJS.ProcessEnv = process.env): Promise<ClientResult> {
  const [serverCmd, serverArgs] = pinnedCommand('server', p.server.cmd, p.server.args);
  const server = spawn(serverCmd, serverArgs, { stdio: ['ignore', 'pipe', 'inherit'], env });
  try {
    const endpoint = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: server.stdout! });
      rl.on('line', (line) => {
        const m = /^READY (\S+)/.exec(line);
        if (m !== null) resolve(m[1]!);
      });
      server.once('exit', (code) => reject(new Error(`${p.name}: server exited (${code})`)));
      setTimeout(() => reject(new Error(`${p.name}: server not ready`)), 20_000);
    });
    const c = p.client(endpoint);
    // A client that marks no window (the Python one counts every call from its start): the server's CPU over its whole run.
    const serverCpuAtStart = processCpuUs(server.pid!);
    const serverWritesAtStart = writeCalls(server.pid!);
    const [clientCmd, clientArgs] = pinnedCommand('client', c.cmd, c.args);
    const client = spawn(clientCmd, clientArgs, { stdio: ['ignore', 'pipe', 'inherit'], env });
    let out = '';
    const marks: number[] = [];
    const writeMarks: number[] = [];
    createInterface({ input: client.stdout! }).on('line', (line) => {
      if (line.startsWith('MARK ')) {
        marks.push(processCpuUs(server.pid!));
        writeMarks.push(writeCalls(server.pid!));
      } else out += `${line}\n`;
    });
    // 'close', not 'exit': every line of its stdout has been read by then.
    const code = await new Promise<number | null>((resolve) => client.once('close', resolve));
    if (code !== 0) throw new Error(`${p.name}: client exited ${code}: ${out}`);
    const r = JSON.parse(out.trim().split('\n').pop()!) as ClientResult;
    if (marks.length === 2 && r.calls > 0) {
      r.serverCpuUsPerCall = (marks[1]! - marks[0]!) / r.calls;
      r.serverWritesPer100 = (100 * (writeMarks[1]! - writeMarks[0]!)) / r.calls;
    } else if (marks.length === 0 && r.calls > 0) {
      r.serverCpuUsPerCall = (processCpuUs(server.pid!) - serverCpuAtStart) / r.calls;
      r.serverWritesPer100 = (100 * (writeCalls(server.pid!) - serverWritesAtStart)) / r.calls;
    }
    return r;
  } finally {
    // SIGTERM when profiling: the server's handler exits, so node writes its profile.
    server.kill(process.env['BENCH_CPU_PROF'] ? 'SIGTERM' : 'SIGKILL');
  }
}

async function main(): Promise<void> {
  const [role, arg, transportArg] = process.argv.slice(2);
  if (process.env['BENCH_CPU_PROF']) process.on('SIGTERM', () => process.exit(0));
  if (role === 'raw-server') return rawServer();
  if (role === 'raw-zmtp-server') return rawZmtpServer();
  if (role === 'codec-zmtp-server') return codecZmtpServer();
  if (role === 'scales-server') return scalesServer(arg as Transport);
  const clients: Record<string, (endpoint: string, transport: Transport) => Promise<ClientResult>> = {
    'raw-client': rawClient,
    'raw-zmtp-client': rawZmtpClient,
    'codec-zmtp-client': codecZmtpClient,
    'session-client': sessionClient,
    'scales-client': scalesClient,
    'stream-client': scalesStreamClient,
  };
  const client = role === undefined ? undefined : clients[role];
  if (client !== undefined) {
    const r = await client(arg!, transportArg as Transport);
    console.log(JSON.stringify(r));
    process.exit(0);
  }
  const only = process.env['BENCH_PAIRS'];
  const b = process.env['BENCH_AB'];
  if (b !== undefined)
    return abMain(
      PAIRS.filter((p) => only === undefined || p.name.includes(only)),
      b,
    );
  const pairs = only === undefined ? PAIRS : PAIRS.filter((p, i) => i === 0 || i === 2 || p.name.includes(only));
  const best = new Map<string, ClientResult>();
  const all = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const p of pairs) {
      const r = await runPair(p);
      const rate = r.calls / r.seconds;
      all.set(p.name, [...(all.get(p.name) ?? []), rate]);
      if ((best.get(p.name)?.calls ?? -1) / (best.get(p.name)?.seconds ?? 1) < rate) best.set(p.name, r);
      if ((r.mismatches ?? 0) > 0) throw new Error(`${p.name}: ${r.mismatches} wrong replies`);
    }
  }
  const rate = (name: string) => {
    const r = best.get(name)!;
    return r.calls / r.seconds;
  };
  const ceiling = rate(PAIRS[0]!.name);
  const python = rate(PAIRS[2]!.name);
  console.log(
    `ZeroRPC, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, Node ${process.version}, load ${loadavg()[0]!.toFixed(2)}, Scales from ${scalesBuild()}`,
  );
  console.log(`${IN_FLIGHT} in flight, ${SECONDS} s windows, best of ${ROUNDS} rounds; echo of ${JSON.stringify(ITEM)}\n`);
  console.log('| pair | rate | unit | % of raw zeromq | vs Python → Python | client CPU µs/call | server CPU µs/call | writes per 100 calls (client, server) | rounds |');
  console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const p of pairs) {
    const r = best.get(p.name)!;
    const v = rate(p.name);
    const pct = p.unit === 'items/s' ? '' : `${((v / ceiling) * 100).toFixed(0)} %`;
    const vsPy = p.unit === 'calls/s' ? `${(v / python).toFixed(1)}×` : '';
    const cpu = r.cpuUsPerCall !== undefined ? r.cpuUsPerCall.toFixed(2) : '';
    const serverCpu = r.serverCpuUsPerCall !== undefined ? r.serverCpuUsPerCall.toFixed(2) : '';
    const writes = `${r.writesPer100?.toFixed(1) ?? '–'}, ${r.serverWritesPer100?.toFixed(1) ?? '–'}`;
    console.log(
      `| ${p.name} | ${Math.round(v).toLocaleString('en-US')} | ${p.unit} | ${pct} | ${vsPy} | ${cpu} | ${serverCpu} | ${writes} | ${all
        .get(p.name)!
        .map((x) => Math.round(x).toLocaleString('en-US'))
        .join(', ')} |`,
    );
  }
}

/**
 * BENCH_AB=<dist dir, relative to the repo>: each pair alternately on the build BENCH_DIST names
 * (A) and on that one (B), A first in even rounds and B first in odd ones, then the medians.
 */
async function abMain(pairs: Pair[], dirB: string): Promise<void> {
  const builds = [
    ['A', scalesBuild()],
    ['B', dirB],
  ] as const;
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const fmt = (x: number, d = 2) => x.toFixed(d);
  console.log(`A/B, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, load ${loadavg()[0]!.toFixed(2)}: A = ${builds[0][1]}, B = ${dirB}, ${ROUNDS} rounds`);
  for (const p of pairs) {
    const runs: Record<string, ClientResult[]> = { A: [], B: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? builds : ([builds[1], builds[0]] as const);
      for (const [label, dir] of order) {
        const env: NodeJS.ProcessEnv = { ...process.env, BENCH_DIST: dir };
        delete env['BENCH_FROM_SRC'];
        const r = await runPair(p, env);
        if ((r.mismatches ?? 0) > 0) throw new Error(`${p.name}: ${r.mismatches} wrong replies`);
        runs[label]!.push(r);
      }
    }
    console.log(`\n${p.name} (load ${loadavg()[0]!.toFixed(2)})`);
    for (const [label] of builds) {
      const rs = runs[label]!;
      const rates = rs.map((r) => r.calls / r.seconds);
      const cli = rs.map((r) => r.cpuUsPerCall ?? 0);
      const srv = rs.map((r) => r.serverCpuUsPerCall ?? 0);
      const wc = rs.map((r) => r.writesPer100 ?? 0);
      const ws = rs.map((r) => r.serverWritesPer100 ?? 0);
      console.log(
        `  ${label}: ${Math.round(median(rates)).toLocaleString('en-US')} ${p.unit} [${rates.map((x) => Math.round(x)).join(', ')}]; CPU µs/call client ${fmt(median(cli))} [${cli.map((x) => fmt(x)).join(', ')}], server ${fmt(median(srv))} [${srv.map((x) => fmt(x)).join(', ')}]; writes/100 calls client ${fmt(median(wc), 1)}, server ${fmt(median(ws), 1)}`,
      );
    }
  }
}

await main();
