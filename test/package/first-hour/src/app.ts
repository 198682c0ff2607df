import { Thrift } from 'scales-rpc/thrift';
import { Kind, NotFound, Store, type Entry, type StoreHandler } from './gen/store.js';

// The server: one function per IDL method.
const entries = new Map<string, Entry>();
const handler: StoreHandler = {
  get(key) {
    const entry = entries.get(key);
    if (entry === undefined) throw new NotFound({ key, message: `no entry ${key}` });
    return entry;
  },
  put(entry) {
    entries.set(entry.key, entry);
  },
  scan(fromKey, limit) {
    return [...entries.values()].filter((e) => e.key >= fromKey).slice(0, limit);
  },
};
const server = await Thrift.serve(Store, handler, { port: 9090 });

// The client: typed methods, a default timeout, a per-call one.
const store = Thrift.newClient(Store, 'tcp://127.0.0.1:9090', { timeout: 1000 });
await store.put({ key: 'a', value: '{"n":1}', kind: Kind.JSON, ttlSeconds: 60 });
const entry = await store.get('a', { timeout: 100 });
console.log(entry.value, entry.ttlSeconds); // {"n":1} 60
try {
  await store.get('nope');
} catch (err) {
  if (err instanceof NotFound) console.log(err.message); // no entry nope
}
await server.close(); // the client needs no $close(): idle connections never keep Node alive
