// HTTP client example: two local node:http servers behind one load-balanced Scales client.
//   npx tsx examples/http.ts
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Http } from '../src/protocols/http/index.js';

async function startServer(name: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ server: name, method: req.method, path: req.url, body }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const servers = [await startServer('a'), await startServer('b')];
const dest = `tcp://${servers.map((s) => `127.0.0.1:${(s.address() as AddressInfo).port}`).join(',')}`;

const api = Http.newBuilder().withTimeout(1000).withLoadBalancer('p2c-ewma').withLabel('example').build(dest);
console.log(`client stack:\n${api.$stack.describe().replace(/^/gm, '  ')}`);

const res = await api.get('/users/1', { timeout: 200 });
console.log(`GET /users/1 -> ${res.status} ${res.text()}`);
const created = await api.post('/users', { name: 'Ada' });
console.log(`POST /users -> ${created.status} body seen by the server: ${created.json<{ body: string }>().body}`);

const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => api.get(`/items/${i}`)));
const served: Record<string, number> = {};
for (const r of replies) {
  const who = r.json<{ server: string }>().server;
  served[who] = (served[who] ?? 0) + 1;
}
console.log(`200 concurrent GETs served by: ${JSON.stringify(served)}`);
const client = api.$stats.snapshot().scopes['client=example']!;
console.log(`stats: ${client.counters['requests']} requests, ${client.counters['successes']} successes, p99 ${client.histograms['latency_ms']!.p99.toFixed(2)} ms`);

await api.$close();
for (const s of servers) s.close();
console.log('done');
