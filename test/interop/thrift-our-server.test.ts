// Real Apache Thrift clients (Python library, npm package) against OUR server: their strict
// checks (test/peers/README.md) are the proof that our server writes correct Thrift bytes.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Thrift, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { makeRichHandler, RichService } from '../fixtures/rich-handler.js';
import { describeRun, runApacheNodeClient, runPyClient } from '../harness/peers.js';

const combos = [
  ['binary', 'framed'],
  ['compact', 'framed'],
  ['binary', 'buffered'],
  ['compact', 'buffered'],
] as const;

for (const [protocol, transport] of combos) {
  describe(`Apache clients -> Scales server (${protocol}/${transport})`, () => {
    let server: ThriftServer;
    before(async () => {
      server = await Thrift.serve(RichService, makeRichHandler(), { protocol, transport });
    });
    after(() => server.close());

    test('Python client: every check passes', async () => {
      const run = await runPyClient({ port: server.port, protocol, transport });
      assert.equal(run.failed, 0, describeRun(run));
      assert.ok(run.passed >= 60, `ran ${run.passed} checks`);
    });

    test('Apache npm client: every check passes', async () => {
      const run = await runApacheNodeClient({ port: server.port, protocol, transport });
      assert.equal(run.failed, 0, describeRun(run));
      assert.ok(run.passed >= 55, `ran ${run.passed} checks`);
    });
  });
}
