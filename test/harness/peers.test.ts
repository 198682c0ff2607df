/**
 * The peers proven against each other (Apache Python <-> Apache Python, Apache npm <-> Apache
 * Python), so that when they later meet our client/server, a failure means OUR side is wrong.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeRun, runApacheNodeClient, runPyClient, startApacheNodeServer, startPyServer, type ClientRun, type PeerOptions } from './peers.js';

function assertAllPassed(run: ClientRun, minChecks: number): void {
  assert.equal(run.failed, 0, describeRun(run));
  assert.equal(run.exitCode, 0, describeRun(run));
  assert.ok(run.passed >= minChecks, `only ${run.passed} checks ran:\n${describeRun(run)}`);
}

const PY_COMBOS: PeerOptions[] = [
  { transport: 'framed', protocol: 'binary' },
  { transport: 'framed', protocol: 'compact' },
  { transport: 'buffered', protocol: 'binary' },
];
const CROSS_COMBOS: PeerOptions[] = [
  { transport: 'framed', protocol: 'binary' },
  { transport: 'buffered', protocol: 'compact' },
];

describe('python client <-> python server', () => {
  for (const combo of PY_COMBOS) {
    it(`${combo.transport}+${combo.protocol}: every check passes, none skipped`, async (t) => {
      const srv = await startPyServer(combo);
      t.after(() => srv.stop());
      const run = await runPyClient({ port: srv.port, ...combo });
      assertAllPassed(run, 60);
      assert.equal(run.skipped, 0);
    });
  }
});

describe('apache-node client -> python server', () => {
  for (const combo of CROSS_COMBOS) {
    it(`${combo.transport}+${combo.protocol}`, async (t) => {
      const srv = await startPyServer(combo);
      t.after(() => srv.stop());
      const run = await runApacheNodeClient({ port: srv.port, ...combo });
      assertAllPassed(run, 60);
      assert.deepEqual(
        run.lines
          .filter((l) => l.skipped)
          .map((l) => l.check)
          .sort(),
        ['echoAll rich pointNames', 'echoDouble -0.0', 'echoPointMap struct keys'],
      );
    });
  }
});

describe('python client -> apache-node server', () => {
  for (const combo of CROSS_COMBOS) {
    it(`${combo.transport}+${combo.protocol} (apache-node profile)`, async (t) => {
      const srv = await startApacheNodeServer(combo);
      t.after(() => srv.stop());
      const run = await runPyClient({ port: srv.port, profile: 'apache-node', ...combo });
      assertAllPassed(run, 60);
    });
  }

  it('the full profile fails exactly on the npm deviations (the checks have teeth)', async (t) => {
    const srv = await startApacheNodeServer({});
    t.after(() => srv.stop());
    const run = await runPyClient({ port: srv.port });
    assert.deepEqual(
      run.failures.map((f) => f.check).sort(),
      [
        'crash', // UNKNOWN instead of INTERNAL_ERROR
        'echoAll rich', // map<Point,_> collapses
        'echoDouble -0.0', // sign dropped
        'echoPointMap struct keys',
        'unknown method', // type field never written
      ],
      describeRun(run),
    );
    assert.equal(run.exitCode, 1);
  });
});
