/** The harness itself: readiness, failure messages, stop escalation, ports, temp dirs, codegen cache. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from './ports.js';
import { runProcess, startProcess } from './process.js';
import { generateThrift } from './thrift-gen.js';
import { tempDir } from './tmp.js';
import { RICH_IDL } from './peers.js';

const NODE = process.execPath;

describe('startProcess', () => {
  it('resolves on a ready line and exposes the match', async (t) => {
    const p = await startProcess({
      cmd: NODE,
      args: ['-e', 'console.error("warming"); console.log("READY 4242"); setInterval(() => {}, 1000)'],
      ready: /^READY (\d+)$/,
    });
    t.after(() => p.stop());
    assert.equal(p.readyMatch?.[1], '4242');
    assert.match(p.output(), /warming/);
  });

  it('rejects with the last output when the process exits before ready', async () => {
    await assert.rejects(
      startProcess({ cmd: NODE, args: ['-e', 'console.error("boom: bad config"); process.exit(3)'], ready: /READY/ }),
      (err: Error) => /exited before ready \(code 3/.test(err.message) && /boom: bad config/.test(err.message),
    );
  });

  it('rejects on timeout and kills the process', async () => {
    const started = Date.now();
    await assert.rejects(
      startProcess({ cmd: NODE, args: ['-e', 'console.log("still booting"); setInterval(() => {}, 1000)'], ready: /READY/, timeoutMs: 300 }),
      (err: Error) => /not ready within 300 ms/.test(err.message) && /still booting/.test(err.message),
    );
    assert.ok(Date.now() - started < 3000);
  });

  it('stop() escalates to SIGKILL when SIGTERM is ignored', async () => {
    const p = await startProcess({
      cmd: NODE,
      args: ['-e', 'process.on("SIGTERM", () => {}); console.log("READY"); setInterval(() => {}, 1000)'],
      ready: /READY/,
      graceMs: 200,
    });
    const exit = await p.stop();
    assert.equal(exit.signal, 'SIGKILL');
  });

  it('waits for a TCP port to accept', async (t) => {
    const port = await freePort();
    const script = `setTimeout(() => require("net").createServer().listen(${port}, "127.0.0.1"), 150)`;
    const p = await startProcess({ cmd: NODE, args: ['-e', script], ready: { tcpPort: port } });
    t.after(() => p.stop());
    assert.equal(p.readyMatch, null);
  });
});

describe('runProcess', () => {
  it('returns full output and the exit code', async () => {
    const r = await runProcess({ cmd: NODE, args: ['-e', 'console.log("a"); console.error("b"); process.exit(2)'] });
    assert.deepEqual([r.stdout, r.stderr, r.code, r.timedOut], ['a\n', 'b\n', 2, false]);
  });

  it('kills on timeout', async () => {
    const r = await runProcess({ cmd: NODE, args: ['-e', 'setInterval(() => {}, 1000)'], timeoutMs: 200 });
    assert.equal(r.timedOut, true);
    assert.equal(r.signal, 'SIGKILL');
  });
});

describe('freePort', () => {
  it('returns a port that can be bound', async () => {
    const port = await freePort();
    const srv = createServer();
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((resolve) => srv.close(resolve));
  });
});

describe('tempDir', () => {
  it('creates and removes a directory', () => {
    const d = tempDir('scales harness/test');
    writeFileSync(join(d.path, 'f'), 'x');
    d.remove();
    assert.equal(existsSync(d.path), false);
  });
});

describe('generateThrift', () => {
  it('caches per IDL content and copies into an outDir on request', async (t) => {
    const a = await generateThrift('py', RICH_IDL);
    const b = await generateThrift('py', RICH_IDL);
    assert.equal(a, b);
    assert.ok(existsSync(join(a, 'scales_test/rich/RichService.py')));
    const out = tempDir('scales-gen-copy');
    t.after(() => out.remove());
    await generateThrift('py', RICH_IDL, out.path);
    assert.ok(existsSync(join(out.path, 'scales_test/shared/ttypes.py')));

    const js = await generateThrift('js:node,ts,es6', RICH_IDL);
    assert.deepEqual(
      readdirSync(js)
        .filter((f) => f.endsWith('.js'))
        .sort(),
      ['BaseService.js', 'RichService.js', 'rich_types.js', 'shared_types.js'],
    );
  });

  it('a different IDL gets a different cache entry; a broken IDL fails with the compiler message', async (t) => {
    const d = tempDir('scales-gen-idl');
    t.after(() => d.remove());
    writeFileSync(join(d.path, 'a.thrift'), 'struct A { 1: i32 x }\n');
    const first = await generateThrift('py', join(d.path, 'a.thrift'));
    writeFileSync(join(d.path, 'a.thrift'), 'struct A { 1: i32 x, 2: string y }\n');
    const second = await generateThrift('py', join(d.path, 'a.thrift'));
    assert.notEqual(first, second);
    writeFileSync(join(d.path, 'a.thrift'), 'struct A { 1: nosuchtype x }\n');
    await assert.rejects(generateThrift('py', join(d.path, 'a.thrift')), /thrift --gen py .*failed: .*nosuchtype/s);
  });
});
