// A client that made its calls and was never closed must not keep Node alive: idle connections
// are unref'd (as undici's are), a connection with a call in flight is ref'd.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Thrift, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { ThriftMux, type ThriftMuxServer } from '../../src/protocols/thriftmux/index.js';
import { echoHandler, EchoService } from '../fixtures/echo-service.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const src = (p: string): string => JSON.stringify(pathToFileURL(path.join(root, 'src', p)).href);
const echo = JSON.stringify(pathToFileURL(path.join(root, 'test/fixtures/echo-service.ts')).href);

let framed: ThriftServer;
let buffered: ThriftServer;
let mux: ThriftMuxServer;
let web: http.Server;
let webPort = 0;

before(async () => {
  framed = await Thrift.serve(EchoService, echoHandler, { port: 0 });
  buffered = await Thrift.serve(EchoService, echoHandler, { port: 0, transport: 'buffered' });
  mux = await ThriftMux.serve(EchoService, echoHandler, { port: 0 });
  web = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
  webPort = (web.address() as { port: number }).port;
});

after(async () => {
  await Promise.all([framed.close(), buffered.close(), mux.close(), new Promise((r) => web.close(r))]);
});

/** Runs `body` in a child process; resolves with its exit code, or 'hung' after `limitMs`. */
function runChild(body: string, limitMs = 15_000): Promise<{ code: number | 'hung'; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', body], { cwd: root, timeout: limitMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const output = stdout + stderr;
      if (err !== null && (err as { killed?: boolean }).killed) resolve({ code: 'hung', output });
      else resolve({ code: child.exitCode ?? 1, output });
    });
  });
}

/** The child's script: a call, the reply printed, and no $close(). */
function thriftScript(entry: string, ctor: string, options: string, port: number): string {
  return `import { ${ctor} } from ${src(entry)};
import { EchoService } from ${echo};
const client = ${ctor}.newClient(EchoService, 'tcp://127.0.0.1:${port}', ${options});
const reply = await client.echo(7n, 0, 'hi');
const slow = await client.echo(8n, 300, 'in flight across an idle loop');
console.log('reply', reply.payload, slow.id);`;
}

test('a Thrift framed client that is not closed lets the process exit', async () => {
  const r = await runChild(thriftScript('protocols/thrift/index.ts', 'Thrift', '{}', framed.port));
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /reply hi 8/);
});

test('a Thrift buffered client with pipelined connections that is not closed lets the process exit', async () => {
  const r = await runChild(thriftScript('protocols/thrift/index.ts', 'Thrift', "{ transport: 'buffered', poolSize: 2 }", buffered.port));
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /reply hi 8/);
});

test('a ThriftMux client that is not closed lets the process exit', async () => {
  const r = await runChild(thriftScript('protocols/thriftmux/index.ts', 'ThriftMux', '{}', mux.port));
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /reply hi 8/);
});

test('an HTTP client that is not closed lets the process exit', async () => {
  const body = `import { Http } from ${src('protocols/http/index.ts')};
const api = Http.newClient('tcp://127.0.0.1:${webPort}');
const res = await api.get('/');
console.log('reply', res.status, res.text());`;
  const r = await runChild(body);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /reply 200 ok/);
});

test('a call in flight keeps the process alive until its reply (no timeout, nothing else pending)', async () => {
  const body = `import { Thrift } from ${src('protocols/thrift/index.ts')};
import { EchoService } from ${echo};
const client = Thrift.newClient(EchoService, 'tcp://127.0.0.1:${framed.port}');
await client.echo(1n, 0, 'warm');
client.echo(2n, 400, 'late').then((r) => console.log('late reply', r.id));`;
  const r = await runChild(body);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /late reply 2/);
});
