/**
 * RPC benchmark client process:
 *   node --import tsx bench/peers/client.ts <scales|apache> <binary|compact> <port>
 * Runs the closed-loop load (env BENCH_IN_FLIGHT, BENCH_WARMUP_MS, BENCH_MEASURE_MS) over ONE
 * framed connection and prints one JSON line: a LoadResult. BENCH_SERVER_PID lets it read the
 * server's CPU time too.
 */
import { Thrift } from '../../src/protocols/thrift/index.js';
import { otherProcessCpuUs, ownCpuUs } from './cpu.js';
import { apacheProtocol, loadApache, type ApacheItem } from './apache.js';
import { ITEM_NAME, ITEM_VALUES, runLoad, sameValues, type LoadOptions, type LoadResult } from './load.js';
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

async function runScales(): Promise<LoadResult> {
  const Bench = await loadBenchService();
  const client = Thrift.newClient(Bench, `tcp://127.0.0.1:${port}`, { protocol: scalesProtocol(protocol), transport: 'framed', poolSize: 1 });
  try {
    return await runLoad<Item, Item>(
      {
        make: (n) => ({ id: BigInt(n), name: ITEM_NAME, values, flag: (n & 1) === 1 }),
        send: (item) => client.echo(item),
        check: (n, req, r) => r.id === req.id && r.name === ITEM_NAME && r.flag === ((n & 1) === 1) && sameValues(r.values),
      },
      load,
    );
  } finally {
    await client.$close();
  }
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

if ((impl !== 'scales' && impl !== 'apache') || !(port > 0)) {
  process.stderr.write('usage: client.ts <scales|apache> <binary|compact> <port>\n');
  process.exit(2);
}
const result = impl === 'scales' ? await runScales() : await runApache();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
