// A Scales Thrift server whose handlers fail with odd values (test/server/odd-service.ts), run as
// its own process so a test can see whether it survives:
//   node --import tsx test/peers/scales_odd_server.ts [--hook none|throw|default]
// --hook: onError absent-by-default logging (default), a hook that throws an odd value (throw), or
// a silent one (none). Prints `READY <port>`.
import { parseArgs } from 'node:util';
import { Thrift } from '../../src/protocols/thrift/index.js';
import { failWith, OddService } from '../server/odd-service.js';

const { values } = parseArgs({ options: { hook: { type: 'string', default: 'default' } } });
let fired = 0;
const hook =
  values.hook === 'throw'
    ? () => {
        throw Object.create(null);
      }
    : values.hook === 'none'
      ? () => undefined
      : undefined;
const server = await Thrift.serve(
  OddService,
  {
    fail: (kind: string, how: string) => failWith(kind, how),
    fire: (kind: string, how: string) => {
      fired++;
      return failWith(kind, how);
    },
    fired: () => fired,
    echo: (s: string) => s,
  },
  hook === undefined ? {} : { onError: hook },
);
console.log(`READY ${server.port}`);
