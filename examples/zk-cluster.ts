// Service discovery through ZooKeeper: three ThriftMux servers announce themselves into a
// serverset, a client on `zk://` follows it, and one server is restarted while calls keep flowing
// (its drain tells the client to stop sending there before it goes).
//   ZK=zk1:2181 npx tsx examples/zk-cluster.ts    (an existing ZooKeeper)
//   npx tsx examples/zk-cluster.ts                (starts Debian's `zookeeper` itself, as the tests do)
import { ThriftMux, type ThriftMuxServer } from '../src/protocols/thriftmux/index.js';
import { startZooKeeper } from '../test/harness/zookeeper.js';
import { UserService, type UserServiceHandler } from './gen/users.js';

const local = process.env['ZK'] === undefined ? await startZooKeeper() : undefined;
const SERVERSET = `zk://${process.env['ZK'] ?? local!.connectString}/services/users`;

// --- servers: each answers `slow` with its own name, and announces itself once listening -----
function handler(name: string): UserServiceHandler {
  const none = () => {
    throw new Error('not in this example');
  };
  return { createUser: none, getUser: none, listUsers: none, slow: () => name };
}

async function startServer(name: string, port = 0): Promise<ThriftMuxServer> {
  const server = await ThriftMux.serve(UserService, handler(name), { port });
  const member = await server.announce(SERVERSET, { log: false });
  console.log(`server ${name}: 127.0.0.1:${server.port}, member ${member.node}`);
  return server;
}

const servers = [await startServer('a'), await startServer('b'), await startServer('c')];

// --- client: the destination is the serverset; joins and leaves reach its load balancer ------
const client = ThriftMux.newBuilder(UserService).withTimeout(2000).withIdempotent(['slow']).withLabel('users').build(SERVERSET);

const nodes = () => client.$stats.snapshot().scopes['client=users']?.gauges['nodes'];
const until = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setTimeout(r, 10));
};
// The set is empty until ZooKeeper first answers: calls made before that wait for it.
console.log(`client: first call answered by ${await client.slow(0)}`);
await until(() => nodes() === 3);
console.log(`client: following ${SERVERSET}, ${nodes()} nodes`);

let running = true;
const answeredBy = new Map<string, number>();
let failed = 0;
const callers = Array.from({ length: 8 }, async () => {
  while (running) {
    try {
      const name = await client.slow(0);
      answeredBy.set(name, (answeredBy.get(name) ?? 0) + 1);
    } catch {
      failed++;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
});
await new Promise((r) => setTimeout(r, 500));

// --- restart b: close() leaves the serverset first, then drains; it comes back on its port ---
const port = servers[1]!.port;
await servers[1]!.close();
await until(() => nodes() === 2);
console.log(`b closed: the client has ${nodes()} nodes`);
await new Promise((r) => setTimeout(r, 300));
servers[1] = await startServer('b', port);
await until(() => nodes() === 3);
console.log(`b is back: the client has ${nodes()} nodes`);
await new Promise((r) => setTimeout(r, 500));

running = false;
await Promise.all(callers);
const total = [...answeredBy.values()].reduce((a, b) => a + b, 0);
console.log(`calls: ${total} answered (${[...answeredBy].map(([k, v]) => `${k}=${v}`).join(' ')}), ${failed} failed`);

await client.$close();
await Promise.all(servers.map((s) => s.close()));
await local?.close();
console.log('done');
