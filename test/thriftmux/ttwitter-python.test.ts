// Apache Thrift's Python library as a Finagle TTwitter client (test/peers/py_ttwitter_client.py:
// the upgrade call, then a RequestHeader written with the library's own protocol before each
// message) against our ThriftMux and plain Thrift servers, binary and compact, with the generated
// RichService client: what its handler saw comes back as JSON and the script checks it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Thrift } from '../../src/protocols/thrift/index.js';
import { ForwardedContexts, MuxClientId, MuxRetries, MuxTrace, receivedValue, ThriftMux, type ServerCallContext } from '../../src/protocols/thriftmux/index.js';
import { makeRichHandler, RichService } from '../fixtures/rich-handler.js';
import { PEERS_DIR, PYTHON, pyGenDir } from '../harness/peers.js';
import { runProcess } from '../harness/process.js';

/** The rich handler, with `echoString('whoami')` answering what the handler's context holds. */
function whoamiHandler(): Record<string, (...args: never[]) => unknown> {
  const h = makeRichHandler();
  h.echoString = ((s: string, ctx: ServerCallContext) => {
    if (s !== 'whoami') return s;
    const t = receivedValue(ctx, MuxTrace);
    const trace =
      t === undefined
        ? undefined
        : {
            traceId: String(t.traceId),
            spanId: String(t.spanId),
            parentId: String(t.parentId),
            flags: String(t.flags),
            ...(t.traceIdHigh === undefined ? {} : { traceIdHigh: String(t.traceIdHigh) }),
          };
    const forwarded = (receivedValue(ctx, ForwardedContexts) ?? []).map(([k, v]) => `${k.toString()}=${v.toString('hex')}`);
    return JSON.stringify({ trace, clientId: receivedValue(ctx, MuxClientId), retries: receivedValue(ctx, MuxRetries), deadline: ctx.deadline, forwarded });
  }) as never;
  return h;
}

interface Line {
  check?: string;
  ok?: boolean;
  detail?: unknown;
  done?: boolean;
  passed?: number;
  failed?: number;
}

async function runPeer(port: number, protocol: 'binary' | 'compact'): Promise<{ lines: Line[]; stderr: string; code: number | null }> {
  const gen = await pyGenDir();
  const r = await runProcess({ cmd: PYTHON, args: [join(PEERS_DIR, 'py_ttwitter_client.py'), '--gen-dir', gen, '--port', String(port), '--protocol', protocol], timeoutMs: 60_000 });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line);
  return { lines, stderr: r.stderr, code: r.code };
}

for (const protocol of ['binary', 'compact'] as const) {
  for (const [label, serve] of [
    ['ThriftMux', () => ThriftMux.serve(RichService, whoamiHandler(), { protocol, onError: false })],
    ['Thrift', () => Thrift.serve(RichService, whoamiHandler(), { protocol, onError: false })],
  ] as const) {
    describe(`Python TTwitter client -> ${label} server (${protocol})`, () => {
      test('upgrade, headers on every call, the handler sees trace / client id / deadline / retries / contexts; a plain connection stays plain', async () => {
        const server = await serve();
        try {
          const { lines, stderr, code } = await runPeer(server.port, protocol);
          const done = lines.find((l) => l.done === true);
          const failures = lines.filter((l) => l.check !== undefined && !l.ok);
          assert.ok(done, `the script finished (exit ${code}): ${stderr.slice(-2000)}`);
          assert.deepEqual(failures, []);
          assert.equal(done.failed, 0);
          assert.ok((done.passed ?? 0) >= 15, `ran ${done.passed} checks`);
          assert.equal(code, 0);
        } finally {
          await server.close();
        }
      });
    });
  }
}
