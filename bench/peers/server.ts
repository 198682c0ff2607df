/**
 * RPC benchmark server process: `node --import tsx bench/peers/server.ts <scales|apache> <binary|compact>`.
 * Serves Bench.echo over framed TCP on a free loopback port, prints the port, and exits when its
 * stdin closes (so it never outlives the parent).
 */
import { scalesModules } from './runtime.js';
import { apacheProtocol, loadApache, type ApacheItem } from './apache.js';
import { loadBenchService, scalesProtocol, type Item } from './scales.js';

const [impl, protocol = 'binary'] = process.argv.slice(2);

async function serveScales(): Promise<number> {
  const m = await scalesModules();
  const Bench = await loadBenchService(m);
  const server = await m.thrift.Thrift.serve(Bench, { echo: (item: Item) => item }, { protocol: scalesProtocol(protocol), transport: 'framed' });
  return server.port;
}

function serveApache(): Promise<number> {
  const { thrift, Bench } = loadApache();
  // Callback-style handler: Apache's fastest server path (the promise-style one adds a
  // Promise.resolve().then per call). The callback must get `null`, not `undefined`, as error.
  const handler = {
    echo(item: ApacheItem, result: (err: null, value: ApacheItem) => void): void {
      result(null, item);
    },
  };
  const server = thrift.createServer(Bench, handler, { transport: thrift.TFramedTransport, protocol: apacheProtocol(thrift, protocol) });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

const port = impl === 'scales' ? await serveScales() : impl === 'apache' ? await serveApache() : NaN;
if (Number.isNaN(port)) {
  process.stderr.write(`usage: server.ts <scales|apache> <binary|compact>\n`);
  process.exit(2);
}
process.stdout.write(`${port}\n`);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
