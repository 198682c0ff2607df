// Issue 9 item 1: no value a handler throws, rejects with or returns can end the server process.
// The server runs in its own process (test/peers/scales_odd_server.ts); every handler fails with
// an odd value (null prototype, throwing getters, non-function toString, symbols, throwing and
// revoked Proxies...) delivered every way (sync throw, async rejection, thenables that throw or
// call back twice). Each call must get exactly one INTERNAL_ERROR TApplicationException, oneway
// calls none; the process must stay alive and a client on another connection keep being served.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { startProcess, type ProcessHandle } from '../harness/process.js';
import { TApplicationExceptionType, Thrift, ThriftApplicationError, type ClientControl } from '../../src/protocols/thrift/index.js';
import { HOWS, ODD_VALUES, OddService, type OddClient } from './odd-service.js';
import { sleep } from '../harness/wait.js';

const PEER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'peers', 'scales_odd_server.ts');

for (const hook of ['default', 'throw'] as const) {
  describe(`odd failure values (onError hook: ${hook})`, () => {
    let proc: ProcessHandle;
    let client: OddClient & ClientControl;
    let other: OddClient & ClientControl;
    let stop = false;
    let background: Promise<number>;

    before(async () => {
      proc = await startProcess({ cmd: process.execPath, args: ['--import', 'tsx', PEER, '--hook', hook], ready: /^READY (\d+)/, timeoutMs: 20_000 });
      const dest = `tcp://127.0.0.1:${proc.readyMatch![1]}`;
      client = Thrift.newClient(OddService, dest, { timeout: 5000 });
      other = Thrift.newClient(OddService, dest, { timeout: 5000 });
      // Another connection keeps calling throughout; every one of its calls must succeed.
      background = (async () => {
        let n = 0;
        while (!stop) {
          assert.equal(await other.echo(`ok${n}`), `ok${n}`);
          n++;
          await sleep(2);
        }
        return n;
      })();
    });

    after(async () => {
      stop = true;
      await client.$close();
      await other.$close();
      await proc.stop();
    });

    for (const kind of Object.keys(ODD_VALUES)) {
      test(`two-way handler failing with ${kind}`, async () => {
        for (const how of HOWS) {
          await assert.rejects(
            client.fail(kind, how),
            (err: unknown) => err instanceof ThriftApplicationError && err.type === TApplicationExceptionType.INTERNAL_ERROR && /Internal error processing fail/.test(err.message),
            `${kind}/${how} gets INTERNAL_ERROR`,
          );
        }
        assert.equal(proc.child.exitCode, null, `the server is alive:\n${proc.tail()}`);
      });
    }

    test('oneway handlers failing with every odd value', async () => {
      const before = await client.fired();
      let sent = 0;
      for (const kind of Object.keys(ODD_VALUES)) {
        for (const how of HOWS) {
          await client.fire(kind, how);
          sent++;
        }
      }
      let seen = 0;
      for (let i = 0; i < 100 && seen < before + sent; i++) {
        seen = await client.fired();
        if (seen < before + sent) await sleep(20);
      }
      assert.equal(seen, before + sent, 'every oneway call ran');
    });

    test('the process is still alive and serving on both connections', async () => {
      await sleep(300); // time for any late unhandled rejection to end the process
      assert.equal(proc.child.exitCode, null, `the server process exited:\n${proc.tail()}`);
      assert.equal(await client.echo('still'), 'still');
      stop = true;
      const calls = await background;
      assert.ok(calls > 5, `the other connection kept being served (${calls} calls)`);
    });
  });
}
