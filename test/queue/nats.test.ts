// The queue suite over a real nats-server with JetStream, with nats.js as the foreign producer.
import { after, before, describe, it } from 'node:test';
import { connect, headers } from 'nats';
import { natsAvailable, startNats, type NatsServer } from '../harness/nats.js';
import { openBackend } from '../../src/protocols/queue/registry.js';
import { queueSuite, type RawSender } from './suite.js';

if (!natsAvailable()) {
  describe('queue over nats', () => it.skip('nats-server / npm nats are not installed (scripts/setup.sh installs them)'));
} else {
  let nats: NatsServer;
  let n = 0;
  before(async () => {
    nats = await startNats();
  });
  after(() => nats.close());

  queueSuite({
    name: 'nats',
    dest: (q) => `${nats.url}/${q}-${++n}`,
    raw: async (dest): Promise<RawSender> => {
      const b = await openBackend(dest); // creates the stream
      await b.close();
      const u = new URL(dest);
      const nc = await connect({ servers: `${u.hostname}:${u.port}` });
      const js = nc.jetstream();
      const subject = u.pathname.slice(1);
      return {
        send: async (body, attributes) => {
          const h = headers();
          for (const [k, v] of Object.entries(attributes)) h.set(k, v);
          await js.publish(subject, body, { headers: h });
        },
        close: () => nc.close(),
      };
    },
    // JetStream pull requests wait at least 1 s; leases (AckWait) at least 1 s.
    serverOptions: { waitMs: 1000 },
  });
}
