/**
 * Overload benchmark server process: `node --import tsx bench/peers/slow-server.ts [thriftmux N]`.
 * Serves Bench.echo over framed binary Thrift (or ThriftMux with `maxConcurrent` N: past it,
 * calls are NACKed); each call waits `item.id` ms (a timer, like a handler waiting on its own
 * backend) before echoing. Prints its port; on a line `stats` on stdin
 * prints `{"accepted":N,"handled":N}` (connections accepted and calls answered so far); exits when
 * stdin closes.
 */
import diagnostics from 'node:diagnostics_channel';
import { createInterface } from 'node:readline';
import { loadScales, scalesModules } from './runtime.js';
import { loadBenchService, type Item } from './scales.js';

let accepted = 0;
let handled = 0;
diagnostics.subscribe('net.server.socket', () => {
  accepted++;
});

const m = await scalesModules();
const Bench = await loadBenchService(m);
const handler = {
  echo: (item: Item) =>
    new Promise<Item>((resolve) => {
      setTimeout(() => {
        handled++;
        resolve(item);
      }, Number(item.id));
    }),
};
const server =
  process.argv[2] === 'thriftmux'
    ? await (await loadScales<typeof import('../../src/protocols/thriftmux/index.js')>('protocols/thriftmux/index.js')).ThriftMux.serve(Bench, handler, {
        maxConcurrent: Number(process.argv[3]),
        onError: false,
      })
    : await m.thrift.Thrift.serve(Bench, handler, { protocol: 'binary', transport: 'framed', onError: false });
process.stdout.write(`${server.port}\n`);
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'stats') process.stdout.write(`${JSON.stringify({ accepted, handled })}\n`);
});
lines.on('close', () => process.exit(0));
