// A Thrift server for HostileService in a process of its own (spawned by decode-budget.test.ts
// with a 1 GiB heap), so its memory can be read from /proc. argv: protocol, hold ms, then
// optionally maxDecodeFactor. Prints its port, then one line per error reported to onError.
import { Thrift } from '../../src/protocols/thrift/index.js';
import { countArgs, HostileService, type ProtocolName } from './hostile-service.js';

const [protocol = 'binary', hold = '0', factor] = process.argv.slice(2);
const holdMs = Number(hold);
const server = await Thrift.serve(
  HostileService,
  {
    // Holding the arguments keeps what they decoded to alive, as a slow handler would.
    take: async (...args: unknown[]) => {
      await new Promise((resolve) => setTimeout(resolve, holdMs));
      return countArgs(...args);
    },
    give: () => ({}),
  },
  {
    protocol: protocol as ProtocolName,
    decodeLimits: factor === undefined ? undefined : { maxDecodeFactor: Number(factor) },
    onError: (err) => process.stdout.write(`error ${(err as { code?: string }).code ?? ''} ${(err as Error).constructor.name} ${(err as Error).message.slice(0, 120)}\n`),
  },
);
process.stdout.write(`port ${server.port}\n`);
