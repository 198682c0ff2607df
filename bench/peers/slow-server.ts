/**
 * Overload benchmark server process: `node --import tsx bench/peers/slow-server.ts`.
 * Serves Bench.echo over framed binary Thrift; each call waits `item.id` ms (a timer, like a
 * handler waiting on its own backend) before echoing. Prints its port; on a line `stats` on stdin
 * prints `{"accepted":N,"handled":N}` (connections accepted and calls answered so far); exits when
 * stdin closes.
 */
import diagnostics from 'node:diagnostics_channel';
import { createInterface } from 'node:readline';
import { scalesModules } from './runtime.js';
import { loadBenchService, type Item } from './scales.js';

let accepted = 0;
let handled = 0;
diagnostics.subscribe('net.server.socket', () => {
  accepted++;
});

const m = await scalesModules();
const Bench = await loadBenchService(m);
const server = await m.thrift.Thrift.serve(
  Bench,
  {
    echo: (item: Item) =>
      new Promise<Item>((resolve) => {
        setTimeout(() => {
          handled++;
          resolve(item);
        }, Number(item.id));
      }),
  },
  { protocol: 'binary', transport: 'framed', onError: false },
);
process.stdout.write(`${server.port}\n`);
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line.trim() === 'stats') process.stdout.write(`${JSON.stringify({ accepted, handled })}\n`);
});
lines.on('close', () => process.exit(0));
