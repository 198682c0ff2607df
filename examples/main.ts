// The main example (`npm run example`): a Thrift server and a typed client over loopback.
// Types come from `scales gen examples/idl/users.thrift -o examples/gen` (checked in).
import { TimeoutError } from '../src/core/errors.js';
import { Thrift } from '../src/protocols/thrift/index.js';
import { Role, UserNotFound, UserService, type User, type UserServiceHandler } from './gen/users.js';

// --- server: a handler object with one method per IDL method ---------------------------------
const users = new Map<bigint, User>();
let nextId = 1n;
const handler: UserServiceHandler = {
  createUser(name, email) {
    const user: User = { id: nextId++, name, email, roles: new Set([Role.READER]) };
    users.set(user.id, user);
    return user;
  },
  getUser(id) {
    const user = users.get(id);
    if (user === undefined) throw new UserNotFound({ id, message: `no user ${id}` });
    return user;
  },
  listUsers(limit) {
    return [...users.values()].slice(0, limit);
  },
  slow(ms, ctx) {
    return new Promise((resolve) => setTimeout(resolve, ms, `${ctx.method} took ${ms} ms`));
  },
};

const server = await Thrift.serve(UserService, handler, { port: 0 });
console.log(`server: Thrift (framed, binary) on 127.0.0.1:${server.port}`);

// --- client: typed methods, per-call timeout/deadline/signal -------------------------------
// withPoolSize(1): one connection carrying every call at once, matched by seqid (the default,
// a watermark pool, is one call per connection as Finagle runs plain Thrift).
const client = Thrift.newBuilder(UserService).withTimeout(1000).withPoolSize(1).build(`tcp://127.0.0.1:${server.port}`);
console.log(`client stack:\n${client.$stack.describe().replace(/^/gm, '  ')}`);

const ada = await client.createUser('Ada', 'ada@example.com');
await client.createUser('Grace', 'grace@example.com');
console.log('createUser ->', ada);
console.log('getUser(1) ->', (await client.getUser(1n)).name);
console.log('listUsers() ->', (await client.listUsers(10)).map((u) => u.name).join(', '));

try {
  await client.getUser(404n);
} catch (err) {
  if (err instanceof UserNotFound) console.log(`getUser(404) -> UserNotFound: ${err.message}`);
  else throw err;
}

try {
  await client.slow(500, { timeout: 50 });
} catch (err) {
  if (err instanceof TimeoutError) console.log(`slow(500) with a 50 ms timeout -> ${err.code}`);
  else throw err;
}
console.log('slow(5) ->', await client.slow(5));

// --- latency summary: 20,000 calls, 100 in flight on one connection --------------------------
const CALLS = 20_000;
const IN_FLIGHT = 100;
const latencies = new Float64Array(CALLS);
let issued = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: IN_FLIGHT }, async () => {
    while (issued < CALLS) {
      const i = issued++;
      const t0 = performance.now();
      await client.getUser(1n);
      latencies[i] = performance.now() - t0;
    }
  }),
);
const seconds = (performance.now() - started) / 1000;
latencies.sort();
const pct = (p: number) => latencies[Math.min(CALLS - 1, Math.floor((p / 100) * CALLS))]!.toFixed(3);
console.log(`latency: ${CALLS} getUser calls, ${IN_FLIGHT} in flight, one connection, same process`);
console.log(`  ${Math.round(CALLS / seconds).toLocaleString('en-US')} calls/s   p50 ${pct(50)} ms   p90 ${pct(90)} ms   p99 ${pct(99)} ms   max ${latencies[CALLS - 1]!.toFixed(3)} ms`);

await client.$close();
await server.close();
console.log('done');
