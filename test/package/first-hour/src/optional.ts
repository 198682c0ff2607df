// Optional IDL arguments may be left out; fields with a default are optional on write (the
// library fills the default in) and present on read; optional fields accept `undefined` under
// exactOptionalPropertyTypes; the handler sees a left-out optional argument as `undefined`.
import { Thrift } from 'scales-rpc/thrift';
import { AdminStore, type AdminStoreHandler } from './gen/admin.js';
import type { Entry } from './gen/store.js';

const seen: string[] = [];
const handler: AdminStoreHandler = {
  get: (key) => ({ key, value: 'v', ttlSeconds: 1 }),
  put: (entry) => {
    seen.push(`put ttl=${entry.ttlSeconds}`);
  },
  scan: (fromKey, limit, cursor) => {
    const c: string | undefined = cursor;
    seen.push(`scan ${fromKey} limit=${limit} cursor=${c === undefined ? 'none' : c}`);
    return [];
  },
  stats: (exact) => {
    const e: boolean | undefined = exact;
    return { entries: e === undefined ? -1n : 1n, note: undefined };
  },
};
const server = await Thrift.serve(AdminStore, handler, { port: 0, logger: false });
const admin = Thrift.newClient(AdminStore, `tcp://127.0.0.1:${server.port}`, { timeout: 2000 });
await admin.scan('a');
await admin.scan('a', 5, undefined, { timeout: 500 });
await admin.put({ key: 'k', value: 'v' });
const stats = await admin.stats();
const read: Entry = await admin.get('k');
const ttl: number = read.ttlSeconds;
const withUndefined: Entry = { key: 'k', value: undefined, kind: undefined, ttlSeconds: ttl };
console.log(`optional ok: ${seen.join('; ')}; stats ${stats.entries}; ${withUndefined.key}`);
await server.close();
