// The server the hostile suites attack (server.test.ts: Thrift; mux.test.ts: ThriftMux), in its
// own process so that a test can read its memory from /proc and see whether it survives:
//   node --max-old-space-size=1024 --import tsx test/hostile/server-process.ts \
//     [--kind thrift|thriftmux] [--protocol binary|compact --transport framed|buffered] [--options JSON]
// --options: extra server options (limits), as JSON. Prints `READY <port>`, then one line
// `ERR <code> <where>` per error the server reports (onError), so a test can see it was typed.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isScalesError } from '../../src/core/errors.js';
import { loadIdl, Thrift, type ServiceDesc, type ThriftProtocolKind, type ThriftServerOptions, type ThriftTransportKind } from '../../src/protocols/thrift/index.js';
import { ThriftMux, type ThriftMuxServerOptions } from '../../src/protocols/thriftmux/index.js';
import { sleep } from '../harness/wait.js';

const { values } = parseArgs({
  options: {
    kind: { type: 'string', default: 'thrift' },
    protocol: { type: 'string', default: 'binary' },
    transport: { type: 'string', default: 'framed' },
    options: { type: 'string', default: '{}' },
  },
});
const idl = path.join(path.dirname(fileURLToPath(import.meta.url)), 'hostile.thrift');
const service = (await loadIdl(idl)).services['Hostile'] as ServiceDesc<unknown, object>;
const size = (c: { length?: number; size?: number }): number => c.length ?? c.size ?? -1;

const handler = {
  echo: (s: string) => s,
  takeList: (items: unknown[]) => size(items),
  takeMap: (items: Map<number, unknown>) => size(items),
  takeSet: (items: Set<number>) => size(items),
  takeNested: (items: unknown[][]) => size(items),
  wait: async (ms: number) => {
    await sleep(ms);
    return ms;
  },
  fire: async (ms: number) => {
    await sleep(ms);
  },
};
const onError = (err: unknown, where: string): void => {
  const code = isScalesError(err) ? err.code : 'UNTYPED';
  process.stdout.write(`ERR ${code} ${where.replace(/\s+/g, '_').slice(0, 80)}\n`);
};
const extra: unknown = JSON.parse(values.options);

const server =
  values.kind === 'thriftmux'
    ? await ThriftMux.serve(service, handler, { onError, ...(extra as ThriftMuxServerOptions) })
    : await Thrift.serve(service, handler, {
        protocol: values.protocol as ThriftProtocolKind,
        transport: values.transport as ThriftTransportKind,
        onError,
        ...(extra as ThriftServerOptions),
      });
console.log(`READY ${server.port}`);
