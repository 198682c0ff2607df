// The ThriftMux server the Mux hostile cases attack (test/hostile/mux.test.ts), in its own
// process so that a test can read its memory from /proc and see whether it survives:
//   node --max-old-space-size=1024 --import tsx test/hostile/mux-server.ts [--options JSON]
// --options: extra ThriftMuxServerOptions (limits), as JSON. Prints `READY <port>`, then one line
// `ERR <code> <where>` per error the server reports (onError), so a test can see it was typed.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isScalesError } from '../../src/core/errors.js';
import { loadIdl, type ServiceDesc } from '../../src/protocols/thrift/index.js';
import { ThriftMux, type ThriftMuxServerOptions } from '../../src/protocols/thriftmux/index.js';

const { values } = parseArgs({ options: { options: { type: 'string', default: '{}' } } });
const idl = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hostile.thrift');
const service = (await loadIdl(idl)).services['Hostile'] as ServiceDesc<unknown, object>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const size = (c: { length?: number; size?: number }): number => c.length ?? c.size ?? -1;

const server = await ThriftMux.serve(
  service,
  {
    echo: (s: string) => s,
    takeList: (items: unknown[]) => size(items),
    takeMap: (items: Map<number, unknown>) => size(items),
    takeSet: (items: Set<number>) => size(items),
    takeNested: (items: unknown[][]) => size(items),
    fire: async (ms: number) => {
      await sleep(ms);
    },
    wait: async (ms: number) => {
      await sleep(ms);
      return ms;
    },
  },
  {
    onError: (err: unknown, where: string) => {
      const code = isScalesError(err) ? err.code : 'UNTYPED';
      process.stdout.write(`ERR ${code} ${where.replace(/\s+/g, '_').slice(0, 80)}\n`);
    },
    ...(JSON.parse(values.options) as ThriftMuxServerOptions),
  },
);
console.log(`READY ${server.port}`);
