// include + extends: AdminStore has Store's methods and its own.
import { Thrift } from 'scales-rpc/thrift';
import { AdminStore, type AdminStoreHandler } from './gen/admin.js';
import { NotFound } from './gen/store.js';

const handler: AdminStoreHandler = {
  get: (key) => {
    throw new NotFound({ key, message: 'empty store' });
  },
  put: () => undefined,
  scan: () => [],
  stats: () => ({ entries: 0n }),
};
const server = await Thrift.serve(AdminStore, handler, { port: 0, logger: false });
const admin = Thrift.newClient(AdminStore, `tcp://127.0.0.1:${server.port}`, { timeout: 2000 });
const stats = await admin.stats(true);
const missing = await admin.get('x').catch((err: unknown) => (err instanceof NotFound ? err.key : 'wrong error'));
console.log(`extends ok: ${stats.entries} entries, get -> NotFound(${missing})`);
await server.close();
