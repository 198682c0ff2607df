/**
 * RPC benchmark client process:
 *   node --import tsx bench/peers/client.ts <scales|scales-bare|apache> <binary|compact> <port>
 * `scales` is the full default client stack (with one pipelined connection); `scales-bare` is the
 * same codec and session with no stack around it (the stack-overhead baseline).
 * Runs the closed-loop load (env BENCH_IN_FLIGHT, BENCH_WARMUP_MS, BENCH_MEASURE_MS) over ONE
 * framed connection and prints one JSON line: a LoadResult. BENCH_SERVER_PID lets it read the
 * server's CPU time too. BENCH_PHASES=1: runs bursts on command instead (see runPhased).
 */
import type { Service } from '../../src/core/service.js';
import type { ThriftCall } from '../../src/protocols/thrift/messages.js';
import { scalesModules } from './runtime.js';
import { otherProcessCpuUs, ownCpuUs } from './cpu.js';
import { apacheProtocol, loadApache, type ApacheItem } from './apache.js';
import { createInterface } from 'node:readline';
import { ITEM_NAME, ITEM_VALUES, runLoad, runPhase, sameValues, type CallShape, type LoadOptions, type LoadResult } from './load.js';
import { loadBenchService, scalesProtocol, type Item } from './scales.js';

const [impl, protocol = 'binary', portArg] = process.argv.slice(2);
const port = Number(portArg);
const load: LoadOptions = {
  inFlight: Number(process.env['BENCH_IN_FLIGHT'] ?? 100),
  warmupMs: Number(process.env['BENCH_WARMUP_MS'] ?? 1000),
  measureMs: Number(process.env['BENCH_MEASURE_MS'] ?? 4000),
};
const serverPid = Number(process.env['BENCH_SERVER_PID']);
if (serverPid > 0) load.cpu = () => ({ client: ownCpuUs(), server: otherProcessCpuUs(serverPid) });
// Both libraries get the same list instance per call (neither copies it on our behalf).
const values = ITEM_VALUES as number[];

const m = await scalesModules();

interface Peer<Req, Rep> {
  shape: CallShape<Req, Rep>;
  close(): Promise<void>;
}

/** The echo call of both Scales clients: request n, and whether a reply is its echo. */
function scalesShape(send: (item: Item) => Promise<Item>): CallShape<Item, Item> {
  return {
    make: (n) => ({ id: BigInt(n), name: ITEM_NAME, values, flag: (n & 1) === 1 }),
    send,
    check: (n, req, r) => r.id === req.id && r.name === ITEM_NAME && r.flag === ((n & 1) === 1) && sameValues(r.values),
  };
}

async function scalesPeer(): Promise<Peer<Item, Item>> {
  const Bench = await loadBenchService(m);
  // BENCH_WITHOUT=stats,retries removes roles (to see what each costs); BENCH_TIMEOUT_MS sets a deadline on every call.
  const without = (process.env['BENCH_WITHOUT'] ?? '').split(',').filter((r) => r !== '');
  const timeout = process.env['BENCH_TIMEOUT_MS'] === undefined ? undefined : Number(process.env['BENCH_TIMEOUT_MS']);
  let builder = m.thrift.Thrift.newBuilder(Bench).withProtocol(scalesProtocol(protocol)).withTransport('framed').withPoolSize(1);
  if (timeout !== undefined) builder = builder.withTimeout(timeout);
  for (const role of without) builder = builder.withStack((s) => s.remove(role));
  const client = builder.build(`tcp://127.0.0.1:${port}`);
  return {
    shape: scalesShape((item) => client.echo(item)),
    close: () => client.$close(),
  };
}

/** One ThriftSession on one Connection, with only the serializer on top: no timeout, stats, retries, balancer, accrual or pool. */
async function scalesBarePeer(): Promise<Peer<Item, Item>> {
  const Bench = await loadBenchService(m);
  const proto = m.thrift.makeProtocol(scalesProtocol(protocol), undefined);
  const conn = await m.transport.Connection.connect('127.0.0.1', port, { framing: m.framing.thriftFraming('framed', proto), maxFrameSize: 16 * 1024 * 1024 });
  const session = new m.session.ThriftSession(conn, proto);
  const service = m.serializer.serializerLayer(proto).make(session) as Service<ThriftCall, unknown>;
  const { CallContext } = m.service;
  const method = Bench.methods['echo']!;
  return {
    shape: scalesShape((item) => service.call({ method, args: { item } }, new CallContext('echo', undefined, undefined)) as Promise<Item>),
    close: () => session.close(),
  };
}

async function runPeer<Req, Rep>(peer: Peer<Req, Rep>): Promise<LoadResult> {
  try {
    return await runLoad(peer.shape, load);
  } finally {
    await peer.close();
  }
}

/**
 * BENCH_PHASES=1: wait for commands on stdin instead, one per line: `run <ms>` runs one burst
 * (runPhase) and prints its PhaseResult as a JSON line; `exit` closes the client.
 */
async function runPhased<Req, Rep>(peer: Peer<Req, Rep>): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  let first = 0;
  process.stdout.write('READY\n');
  for await (const line of lines) {
    const [cmd, arg] = line.trim().split(/\s+/);
    if (cmd === 'exit') break;
    if (cmd !== 'run') throw new Error(`unknown command '${line}'`);
    const r = await runPhase(peer.shape, load.inFlight, Number(arg), ownCpuUs, first);
    first += r.calls + r.errors + load.inFlight;
    process.stdout.write(`${JSON.stringify(r)}\n`);
  }
  lines.close();
  await peer.close();
}

async function runApache(): Promise<LoadResult> {
  const { thrift, Bench } = loadApache();
  const conn = thrift.createConnection('127.0.0.1', port, {
    transport: thrift.TFramedTransport,
    protocol: apacheProtocol(thrift, protocol),
    max_attempts: 1,
  });
  await new Promise<void>((resolve, reject) => {
    conn.on('connect', () => resolve());
    conn.on('error', (err) => reject(err));
  });
  const client = thrift.createClient(Bench, conn);
  try {
    return await runLoad<ApacheItem, ApacheItem>(
      {
        // A plain number id: Apache's writeI64 wraps it in a node-int64 itself.
        make: (n) => ({ id: n, name: ITEM_NAME, values, flag: (n & 1) === 1 }),
        send: (item) => client.echo(item),
        check: (n, _req, r) => typeof r.id === 'object' && r.id.toNumber() === n && r.name === ITEM_NAME && r.flag === ((n & 1) === 1) && sameValues(r.values),
      },
      load,
    );
  } finally {
    conn.end();
  }
}

if ((impl !== 'scales' && impl !== 'scales-bare' && impl !== 'apache') || !(port > 0)) {
  process.stderr.write('usage: client.ts <scales|scales-bare|apache> <binary|compact> <port>\n');
  process.exit(2);
}
if (process.env['BENCH_PHASES'] === '1') {
  if (impl === 'apache') throw new Error('phased runs are for the Scales clients');
  await runPhased(impl === 'scales' ? await scalesPeer() : await scalesBarePeer());
  process.exit(0);
}
const result = impl === 'scales' ? await runPeer(await scalesPeer()) : impl === 'scales-bare' ? await runPeer(await scalesBarePeer()) : await runApache();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
