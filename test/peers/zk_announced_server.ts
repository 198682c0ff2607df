// A Scales Thrift echo server that announces itself into a zk:// serverset, run as its own process
// so that a test can kill -9 it (its member then stays until its ZooKeeper session expires):
//   node --import tsx test/peers/zk_announced_server.ts --zk zk://127.0.0.1:2181/services/x [--name a] [--session-timeout-ms 4000]
// Replies carry --name as the payload when given. Prints `READY <port> <member node>` once listening and announced. SIGTERM closes it gracefully
// (the member is removed first, then the server drains).
import { parseArgs } from 'node:util';
import { Thrift } from '../../src/protocols/thrift/index.js';
import { EchoService } from '../fixtures/echo-service.js';

const { values } = parseArgs({ options: { zk: { type: 'string' }, name: { type: 'string', default: '' }, 'session-timeout-ms': { type: 'string', default: '4000' } } });
const name = values.name;
const server = await Thrift.serve(
  EchoService,
  {
    echo: (id, delayMs, payload) => {
      const reply = { id, payload: name === '' ? payload : name }; // the name says who answered
      return delayMs > 0 ? new Promise((r) => setTimeout(r, delayMs, reply)) : reply;
    },
  },
  { onError: false },
);
const a = await server.announce(values.zk!, { sessionTimeoutMs: Number(values['session-timeout-ms']), log: false });
console.log(`READY ${server.port} ${a.node}`);
process.on('SIGTERM', () => {
  void server.close(2000).then(() => process.exit(0));
});
