// Apache's plain framed-Thrift clients (Python and npm) against the ThriftMux server: the same
// port serves them, told apart from Mux sessions by their first bytes. Every check of the rich IDL.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ThriftMux } from '../../src/protocols/thriftmux/index.js';
import type { ThriftMuxServer } from '../../src/protocols/thriftmux/server.js';
import { makeRichHandler, RichService } from '../fixtures/rich-handler.js';
import { describeRun, runApacheNodeClient, runPyClient } from '../harness/peers.js';

for (const protocol of ['binary', 'compact'] as const) {
  describe(`Apache framed Thrift clients -> ThriftMux server (${protocol})`, () => {
    let server: ThriftMuxServer;
    before(async () => {
      server = await ThriftMux.serve(RichService, makeRichHandler(), { protocol, onError: false });
    });
    after(() => server.close());

    test('Python client: every check passes', async () => {
      const run = await runPyClient({ port: server.port, protocol, transport: 'framed' });
      assert.equal(run.failed, 0, describeRun(run));
      assert.ok(run.passed >= 60, `ran ${run.passed} checks`);
    });

    test('Apache npm client: every check passes', async () => {
      const run = await runApacheNodeClient({ port: server.port, protocol, transport: 'framed' });
      assert.equal(run.failed, 0, describeRun(run));
      assert.ok(run.passed >= 55, `ran ${run.passed} checks`);
    });
  });
}
