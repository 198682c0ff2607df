/**
 * The ThriftMux code paths of one echo call, in process, no sockets: CPU per call of
 *   client: serializer (Tdispatch head + Thrift CALL) → MuxClientCodec.write into the connection's
 *           batch → MuxClientCodec.read of the Rdispatch → reply decoded for the caller;
 *   server: ThriftMuxServerCodec.decode of the Tdispatch → writeReply (Rdispatch) into the batch.
 * Messages are read as the connection hands them over: a range of the read (readRange,
 * decodeRange) where the build has it, else a Buffer view of the read, as the connection makes.
 * What it leaves out (sockets, the client and server stacks, the event loop) is the same for every
 * build, so it compares builds more steadily than the two-process benchmark on a shared machine:
 *   npx tsc -p tsconfig.build.json && npx tsx bench/mux-paths.ts                 # dist
 *   BENCH_AB=../../tmp/base/dist,dist npx tsx bench/mux-paths.ts                 # two builds, interleaved
 * Builds are named as BENCH_DIST takes them (relative to the repository root); each is loaded
 * side by side in this process. 15 rounds of 200,000 calls per path and build; medians.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { loadBenchService, type Item } from './peers/scales.js';
import type { ScalesModules } from './peers/runtime.js';

type Bytes = typeof import('../src/core/bytes.js');
type Context = typeof import('../src/core/context.js');
type Protocols = typeof import('../src/protocols/thrift/protocols.js');
type Serializer = typeof import('../src/protocols/thriftmux/serializer.js');
type ClientCodec = typeof import('../src/protocols/mux/client-codec.js');
type ServerCodecMod = typeof import('../src/protocols/thriftmux/server-codec.js');
type Fragments = typeof import('../src/protocols/mux/fragments.js');
type ThriftIndex = typeof import('../src/protocols/thrift/index.js');

const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 15);
const CALLS = Number(process.env['BENCH_CALLS'] ?? 200_000);

interface Paths {
  client(): void;
  server(): void;
}

async function load(build: string): Promise<Paths> {
  const base = new URL(`../${build}/`, import.meta.url);
  const imp = <T>(p: string): Promise<T> => import(new URL(p, base).href) as Promise<T>;
  const [bytes, context, protocols, serializer, clientCodec, serverCodec, fragments, thrift] = await Promise.all([
    imp<Bytes>('core/bytes.js'),
    imp<Context>('core/context.js'),
    imp<Protocols>('protocols/thrift/protocols.js'),
    imp<Serializer>('protocols/thriftmux/serializer.js'),
    imp<ClientCodec>('protocols/mux/client-codec.js'),
    imp<ServerCodecMod>('protocols/thriftmux/server-codec.js'),
    imp<Fragments>('protocols/mux/fragments.js'),
    imp<ThriftIndex>('protocols/thrift/index.js'),
  ]);
  const Bench = await loadBenchService({ thrift } as unknown as ScalesModules);
  const protocol = protocols.makeProtocol('binary', 16 << 20);
  const method = Bench.methods['echo']!;

  /** A connection's writing side: the batch buffer and the frame marks, as Connection does them. */
  const fakeConn = (): { conn: never; w: InstanceType<Bytes['BufferWriter']> } => {
    const w = new bytes.BufferWriter(1 << 20);
    const conn = {
      writer: w,
      closing: false,
      closed: false,
      endpoint: 'bench',
      beginMessage(): number {
        const mark = w.pos;
        w.reserve(4);
        return mark;
      },
      endMessage(mark: number): void {
        w.buf.writeUInt32BE(w.pos - mark - 4, mark);
        if (w.pos > 1 << 19) w.pos = 0; // as if flushed
      },
      abortMessage(mark: number): void {
        w.pos = mark;
      },
    };
    return { conn: conn as never, w };
  };

  const item: Item = { id: 7n, name: 'scales-bench-item-name-0', values: [1, -2, 300, -40_000, 5_000_000, 6, 7, 8, 9, 2_147_483_647], flag: true };
  const lastFrame = (w: { buf: Buffer; pos: number }, start: number): Buffer => Buffer.from(w.buf.subarray(start + 4, w.pos));

  // Server: the Tdispatch a client writes, decoded; the answer written.
  const s = fakeConn();
  const codec = new serverCodec.ThriftMuxServerCodec(protocol, Bench as never, {
    limits: { maxMessageBytes: 16 << 20, maxPartials: 64, maxContexts: 256, maxDtab: 256, reassembly: new fragments.ReassemblyBudget(1 << 27) },
  });
  // Client: the serializer over a session stand-in that writes with the codec and reads the reply at once.
  const c = fakeConn();
  const cc = new clientCodec.MuxClientCodec();
  let current: { onReply(v: unknown): void; onError(e: unknown): void } | undefined;
  /** The Rdispatch as the connection reads it: after its length prefix, in a larger read. */
  let replyRead: Buffer = Buffer.alloc(0);
  let replyEnd = 0;
  const control = {
    conn: c.conn,
    request: () => undefined,
    reply: (_tag: number, rep: unknown) => current!.onReply(rep),
    fail: (_tag: number, err: unknown) => current!.onError(err),
    violation: (m: string) => {
      throw new Error(m);
    },
    drain() {},
    lease() {},
  };
  const below = {
    dispatch(req: never, _ctx: unknown, handler: typeof current): void {
      cc.write(c.conn, req, 2);
      current = handler;
      // What the connection hands over: a range (builds with readRange) or a view of the read.
      if (cc.readRange !== undefined) cc.readRange(replyRead, 4, replyEnd, control as never);
      else cc.read(replyRead.subarray(4, replyEnd), control as never);
    },
  };
  const ser = serializer.thriftMuxSerializerLayer(protocol, undefined).make(below, {}) as { dispatch(call: unknown, ctx: unknown, h: unknown): void };
  let got: unknown;
  const handler = {
    onReply(v: unknown): void {
      got = v;
    },
    onError(e: unknown): void {
      throw e;
    },
  };
  const call = { method, args: { item } };
  // One call first, to capture the bytes each side reads.
  const tdispatchAt = c.w.pos;
  const capture = {
    dispatch(req: never): void {
      cc.write(c.conn, req, 2);
    },
  };
  (serializer.thriftMuxSerializerLayer(protocol, undefined).make(capture, {}) as typeof ser).dispatch(call, context.newCallContext('echo', undefined, undefined), handler);
  const tdispatch = lastFrame(c.w, tdispatchAt);
  const req = codec.decode(tdispatch, s.conn);
  const rdispatchAt = s.w.pos;
  codec.writeReply(s.conn, req as never, item);
  const reply = lastFrame(s.w, rdispatchAt);
  // Each as the peer's connection reads it: its prefix, then the message, in a read with more after it.
  const inRead = (m: Buffer): Buffer => {
    const b = Buffer.alloc(4 + m.length + 64);
    b.writeUInt32BE(m.length, 0);
    m.copy(b, 4);
    return b;
  };
  replyRead = inRead(reply);
  replyEnd = 4 + reply.length;
  const tdispatchRead = inRead(tdispatch);
  const tdispatchEnd = 4 + tdispatch.length;

  return {
    client(): void {
      ser.dispatch(call, context.newCallContext('echo', undefined, undefined), handler);
      if ((got as Item).name !== item.name) throw new Error('bad echo');
    },
    server(): void {
      const r = (codec.decodeRange !== undefined ? codec.decodeRange(tdispatchRead, 4, tdispatchEnd, s.conn) : codec.decode(tdispatchRead.subarray(4, tdispatchEnd), s.conn)) as { args: unknown[] };
      codec.writeReply(s.conn, r as never, r.args[0]);
    },
  };
}

// Young-generation collections, counted: their number follows the bytes allocated per call.
let scavenges = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if ((e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
}).observe({ entryTypes: ['gc'] });

/** CPU ns per call, and scavenges per million calls (the observer reports them on a later turn). */
async function measure(f: () => void): Promise<[number, number]> {
  await new Promise((r) => setTimeout(r, 30));
  const g0 = scavenges;
  const t0 = process.cpuUsage();
  for (let i = 0; i < CALLS; i++) f();
  const t1 = process.cpuUsage(t0);
  await new Promise((r) => setTimeout(r, 30)); // the observer hears of GCs on a later turn
  return [((t1.user + t1.system) * 1000) / CALLS, ((scavenges - g0) * 1e6) / CALLS];
}

const builds = (process.env['BENCH_AB'] ?? process.env['BENCH_DIST'] ?? 'dist').split(',');
const paths = await Promise.all(builds.map(load));
const results = builds.map(() => ({ client: [] as number[], server: [] as number[], clientGc: [] as number[], serverGc: [] as number[] }));
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => builds.length - 1 - i);
  for (const i of order) {
    const r = results[i]!;
    const [c, cg] = await measure(paths[i]!.client);
    const [s, sg] = await measure(paths[i]!.server);
    r.client.push(c);
    r.clientGc.push(cg);
    r.server.push(s);
    r.serverGc.push(sg);
  }
}
const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`ThriftMux paths in process, ${ROUNDS} rounds × ${CALLS} calls, CPU ns per call (median, [min–max]); scavenges per million calls`);
console.log('| build | client: encode, write, read, decode | server: decode, write reply | client scavenges | server scavenges |');
console.log('|---|---:|---:|---:|---:|');
for (const [i, b] of builds.entries()) {
  const r = results[i]!;
  const f = (xs: number[]): string => `${median(xs).toFixed(0)} [${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}]`;
  const sum = (xs: number[]): number => xs.reduce((a, x) => a + x, 0) / xs.length;
  console.log(`| ${b} | ${f(r.client)} | ${f(r.server)} | ${sum(r.clientGc).toFixed(0)} | ${sum(r.serverGc).toFixed(0)} |`);
}
