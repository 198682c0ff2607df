// A backend for fault-injection tests, run as its own process so a test can kill -9 it:
//   node --import tsx test/peers/scales_backend.ts --protocol thrift|http --port N [--latency-ms M] [--mode serve|blackhole|fail|reset]
// serve: echo (Thrift EchoService, or HTTP: any request → 200 with JSON {server, path, body});
// blackhole: accept TCP and never answer; fail: Thrift → INTERNAL_ERROR, HTTP → 503;
// reset: accept TCP, and reset the connection (RST) as soon as a request's first bytes arrive.
// Prints `READY <port>` once listening. --latency-ms adds a fixed delay to every reply.
// --count K (K > 1, --port 0) serves K servers from this one process, on free ports, named
// <name>.0 .. <name>.K-1 (all with the same mode and latency), and prints `READY <p0>,<p1>,...`.
// On SIGUSR2 prints `COUNT <requests> <connections>`: requests received (reset: connections that
// sent bytes) and connections accepted so far (counted in reset mode only; 0 in the others).
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Thrift } from '../../src/protocols/thrift/index.js';
import { EchoService } from '../fixtures/echo-service.js';
import { sleep } from '../harness/wait.js';

const { values } = parseArgs({
  options: {
    protocol: { type: 'string', default: 'thrift' },
    port: { type: 'string', default: '0' },
    'latency-ms': { type: 'string', default: '0' },
    mode: { type: 'string', default: 'serve' },
    name: { type: 'string', default: '' },
    count: { type: 'string', default: '1' },
  },
});
const port = Number(values.port);
const latency = Number(values['latency-ms']);
const mode = values.mode;
let requests = 0;
let accepted = 0;
process.on('SIGUSR2', () => console.log(`COUNT ${requests} ${accepted}`));

/** Starts one server of the chosen protocol and mode; resolves to its port. */
async function serveOne(port: number, name: string): Promise<number> {
  const listen = (server: net.Server | http.Server): Promise<number> => new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
  if (mode === 'reset') {
    const server = net.createServer((s) => {
      accepted++;
      s.on('error', () => undefined);
      s.once('data', () => {
        requests++;
        s.resetAndDestroy();
      });
    });
    return listen(server);
  }
  if (mode === 'blackhole') {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('data', () => undefined); // read and ignore: the connection stays open, nothing comes back
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    return listen(server);
  }
  if (values.protocol === 'thrift') {
    const server = await Thrift.serve(
      EchoService,
      {
        async echo(id, delayMs, payload) {
          requests++;
          const wait = latency + Math.max(0, delayMs);
          if (wait > 0) await sleep(wait);
          if (mode === 'fail') throw new Error(`${name} is failing`);
          return { id, payload: payload === 'who' ? name : payload };
        },
      },
      { port, maxConcurrentPerConnection: 10_000 },
    );
    return server.port;
  }
  const server = http.createServer(async (req, res) => {
    requests++;
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
  return listen(server);
}

const name = values.name || 'backend';
const count = Number(values.count);
if (count === 1) {
  console.log(`READY ${await serveOne(port, name)}`);
} else {
  // Several servers in this one process, each on a free port, named <name>.0, <name>.1...
  const ports: number[] = [];
  for (let i = 0; i < count; i++) ports.push(await serveOne(0, `${name}.${i}`));
  console.log(`READY ${ports.join(',')}`);
}
