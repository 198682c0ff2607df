// A backend for fault-injection tests, run as its own process so a test can kill -9 it:
//   node --import tsx test/peers/scales_backend.ts --protocol thrift|http --port N [--latency-ms M] [--mode serve|blackhole|fail]
// serve: echo (Thrift EchoService, or HTTP: any request → 200 with JSON {server, path, body});
// blackhole: accept TCP and never answer; fail: Thrift → INTERNAL_ERROR, HTTP → 503.
// Prints `READY <port>` once listening. --latency-ms adds a fixed delay to every reply.
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Thrift } from '../../src/protocols/thrift/index.js';
import { EchoService } from '../fixtures/echo-service.js';

const { values } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'thrift' },
    port: { type: 'string', default: '0' },
    'latency-ms': { type: 'string', default: '0' },
    mode: { type: 'string', default: 'serve' },
    name: { type: 'string', default: '' },
  },
});
const port = Number(values.port);
const latency = Number(values['latency-ms']);
const mode = values.mode;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (mode === 'blackhole') {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('data', () => undefined); // read and ignore: the connection stays open, nothing comes back
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(port, '127.0.0.1', () => console.log(`READY ${(server.address() as net.AddressInfo).port}`));
} else if (values.protocol === 'thrift') {
  const name = values.name || 'backend';
  const server = await Thrift.serve(
    EchoService,
    {
      async echo(id, delayMs, payload) {
        const wait = latency + Math.max(0, delayMs);
        if (wait > 0) await sleep(wait);
        if (mode === 'fail') throw new Error(`${name} is failing`);
        return { id, payload: payload === 'who' ? name : payload };
      },
    },
    { port, maxConcurrentPerConnection: 10_000 },
  );
  console.log(`READY ${server.port}`);
} else {
  const name = values.name || 'backend';
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (latency > 0) await sleep(latency);
    if (mode === 'fail') {
      res.writeHead(503).end('unavailable');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ server: name, method: req.method, path: req.url, body: Buffer.concat(chunks).toString('utf8') }));
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => console.log(`READY ${(server.address() as net.AddressInfo).port}`));
}
