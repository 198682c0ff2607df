// Fault injection against real backend PROCESSES (test/peers/scales_backend.ts), for the Thrift
// client (default watermark pool) and the HTTP client alike: kill -9 under load, every server
// down, a blackhole server, a server failing every call. Each test drives steady load with
// test/stack/load.ts and reads the client's own stats ($stats) for per-node counters and the
// failure-accrual state history.
//
// Timing knobs are small so the suite stays fast; the bounds asserted are generous (the
// machine is noisy) but each one is far below what a broken client would show.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import type { ClientBuilderBase } from '../../src/client/builder.js';
import type { ClientStackOptions } from '../../src/client/options.js';
import { OverloadedError, ScalesError, TimeoutError } from '../../src/core/errors.js';
import { Http } from '../../src/protocols/http/index.js';
import { Thrift, ThriftApplicationError } from '../../src/protocols/thrift/index.js';
import { constantBackoff } from '../../src/resilience/backoff.js';
import { StatsRegistry, type ScopeSnapshot } from '../../src/stats/registry.js';
import { EchoService } from '../fixtures/echo-service.js';
import { startBackend, type Backend, type BackendMode, type BackendProtocol } from '../harness/backends.js';
import { Load, sleep, tally, until, type CallFn, type CallRecord } from './load.js';

// ---- knobs -----------------------------------------------------------------------------------

/** Failure accrual keeps a node dead this long before letting one probe through. */
const ACCRUAL_BACKOFF_MS = 300;
/** The pool tries no connect for this long after a failed one. */
const CONNECT_BACKOFF_MS = 200;
const CALLERS = 20;

// ---- the two protocols behind one interface ---------------------------------------------------

interface Knobs {
  label: string;
  timeout: number;
  /** HTTP only (default POST: not idempotent, like a Thrift call by default; GET may be retried after a lost connection). */
  httpMethod?: 'GET' | 'POST';
}

interface TestClient {
  /** One call; resolves to the name of the server that answered. */
  readonly call: CallFn;
  readonly stats: StatsRegistry;
  close(): Promise<void>;
}

interface Proto {
  readonly name: BackendProtocol;
  client(dest: string, knobs: Knobs): TestClient;
  /** Checks the error a call to a server in mode 'fail' gets. */
  isServerFailure(err: unknown): boolean;
}

/** A 5xx answer, as the HTTP load callers report it (the client resolves every status). */
class HttpStatusError extends Error {
  readonly code: string;
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
    this.code = `HTTP_${status}`;
  }
}

/** The same settings for both protocols, through the shared `with...` methods. */
function configure<B extends ClientBuilderBase<B, ClientStackOptions>>(b: B, k: Knobs): B {
  return (
    b
      .withLabel(k.label)
      // A long state history, so that every probe of a test is still in it when counted.
      .withStats(new StatsRegistry({ stateHistory: 1000 }))
      .withTimeout(k.timeout)
      .withFailureAccrual({ backoff: constantBackoff(ACCRUAL_BACKOFF_MS) })
      .withPool({ kind: 'watermark', backoff: constantBackoff(CONNECT_BACKOFF_MS) })
  );
}

const PROTOS: readonly Proto[] = [
  {
    name: 'thrift',
    client(dest, k) {
      // Thrift's default pool is the watermark pool; withPool only sets its connect backoff.
      const c = configure(Thrift.newBuilder(EchoService), k).build(dest);
      return {
        call: async (caller, seq) => (await c.echo(BigInt(caller * 1_000_000 + seq), 0, 'who')).payload,
        stats: c.$stats,
        close: () => c.$close(),
      };
    },
    isServerFailure: (err) => err instanceof ThriftApplicationError && err.typeName === 'INTERNAL_ERROR',
  },
  {
    name: 'http',
    client(dest, k) {
      const c = configure(Http.newBuilder(), k).build(dest);
      const method = k.httpMethod ?? 'POST';
      return {
        call: async (caller, seq) => {
          const res = method === 'GET' ? await c.get('/who') : await c.post('/who', { caller, seq });
          if (res.status >= 500) throw new HttpStatusError(res.status);
          return res.json<{ server: string }>().server;
        },
        stats: c.$stats,
        close: () => c.$close(),
      };
    },
    isServerFailure: (err) => err instanceof HttpStatusError && err.status === 503,
  },
];

// ---- helpers ---------------------------------------------------------------------------------

const key = (b: Backend | number): string => `127.0.0.1:${typeof b === 'number' ? b : b.port}`;
const destOf = (bs: readonly Backend[]): string => `tcp://${bs.map(key).join(',')}`;

function nodeScope(stats: StatsRegistry, label: string, b: Backend | number): ScopeSnapshot {
  const s = stats.snapshot().scopes[`client=${label}/node=${key(b)}`];
  assert.ok(s !== undefined, `no stats scope for node ${key(b)} of client ${label}`);
  return s;
}
const counter = (s: ScopeSnapshot, name: string): number => s.counters[name] ?? 0;

/** A short, readable account of records for assertion messages. */
function describeRecords(rs: readonly CallRecord[], t0: number, max = 12): string {
  const lines = rs.slice(0, max).map((r) => `  +${r.start - t0}..+${r.end - t0} ms ${r.ok ? `ok ${r.server}` : `${r.code} ${r.endpoint ?? ''} ${(r.error as Error)?.message ?? ''}`}`);
  if (rs.length > max) lines.push(`  ... ${rs.length - max} more`);
  return lines.join('\n');
}

/** Prints what the test observed (visible with --test-reporter=spec). */
function report(what: string, values: Record<string, unknown>): void {
  console.log(`[faults] ${what}: ${JSON.stringify(values)}`);
}

// ---- the suite -------------------------------------------------------------------------------

for (const proto of PROTOS) {
  describe(`fault injection against real backend processes: ${proto.name}`, () => {
    const backends: Backend[] = [];
    const cleanups: (() => Promise<void>)[] = [];

    const start = async (names: readonly string[], opts: { latencyMs?: number; mode?: (name: string) => BackendMode } = {}): Promise<Backend[]> => {
      const bs = await Promise.all(names.map((name) => startBackend({ protocol: proto.name, latencyMs: opts.latencyMs ?? 0, mode: opts.mode?.(name) ?? 'serve', name })));
      backends.push(...bs);
      return bs;
    };
    const restart = async (old: Backend, name: string, latencyMs: number): Promise<Backend> => {
      const b = await startBackend({ protocol: proto.name, port: old.port, latencyMs, name });
      backends.push(b);
      return b;
    };
    const newClient = (bs: readonly Backend[], knobs: Knobs): TestClient => {
      const c = proto.client(destOf(bs), knobs);
      cleanups.push(() => c.close());
      return c;
    };
    const newLoad = (c: TestClient, concurrency = CALLERS): Load => {
      const load = new Load(c.call, concurrency);
      cleanups.unshift(() => load.stop()); // stop the load before closing the client
      return load.start();
    };
    /** Waits until every backend in `bs` has answered at least one call of `load`. */
    const warm = (load: Load, bs: readonly Backend[]): Promise<number> =>
      until(`every backend to answer (${bs.map((b) => b.name).join(', ')})`, () => bs.every((b) => load.records.some((r) => r.ok && r.server === b.name)), 10_000);

    afterEach(async () => {
      for (const c of cleanups.splice(0)) await c().catch(() => undefined);
      await Promise.all(backends.splice(0).map((b) => b.stop().catch(() => undefined)));
    });

    /**
     * kill -9 one of 3 servers under load. `retriedElsewhere`: the calls are idempotent (HTTP GET),
     * so even those in flight on the victim are sent again to another node: nothing fails at all.
     */
    const killTest = (variant: string, httpMethod: 'GET' | 'POST' | undefined, retriedElsewhere: boolean) => async () => {
      const label = `${proto.name}-kill${variant}`;
      const LATENCY = 20; // so that calls are in flight on every node when the kill lands
      const [a, b, c] = await start(['a', 'b', 'c'], { latencyMs: LATENCY });
      const client = newClient([a!, b!, c!], { label, timeout: 2000, httpMethod });
      const load = newLoad(client);
      await warm(load, [a!, b!, c!]);
      await sleep(300);
      const warmFailures = load.records.filter((r) => !r.ok);
      assert.equal(warmFailures.length, 0, `failures before any fault:\n${describeRecords(warmFailures, load.records[0]!.start)}`);

      // The victim's in-flight gauge, read in the same synchronous run as the SIGKILL: no call
      // can be sent in between. Calls sent to it while the kernel tears the process down were in
      // flight on it at its death too: count them, up to the moment the client has seen the
      // death (the exit, and the rest of that event-loop turn, where the kernel's FIN/RST on
      // every socket of the dead process is read: the kernel closes them before it reports the
      // exit).
      const before = nodeScope(client.stats, label, c!);
      const inFlightAtKill = before.gauges.in_flight ?? 0;
      const tKill = Date.now();
      c!.process.kill('SIGKILL');
      await c!.process.exited;
      await new Promise((r) => setImmediate(r));
      const tDead = Date.now();
      const deadMark = load.mark();
      const sentWhileDying = counter(nodeScope(client.stats, label, c!), 'requests') - counter(before, 'requests');
      assert.ok(inFlightAtKill > 0, 'the victim had calls in flight at the kill (else this test proves nothing)');

      await sleep(2500);
      const failedAfterKill = load.ended(tKill).filter((r) => !r.ok);
      const exposed = inFlightAtKill + sentWhileDying;
      if (retriedElsewhere) {
        assert.equal(failedAfterKill.length, 0, `idempotent calls failed after the kill (${inFlightAtKill} were in flight on the victim):\n${describeRecords(failedAfterKill, tKill)}`);
      } else {
        assert.ok(
          failedAfterKill.length <= exposed,
          `${failedAfterKill.length} calls failed after the kill, but only ${inFlightAtKill} were in flight on the victim at the kill (+${sentWhileDying} sent while it died):\n${describeRecords(failedAfterKill, tKill)}`,
        );
      }
      for (const r of failedAfterKill) assert.equal(r.endpoint, key(c!), `a failure after the kill names the killed node: ${r.code} ${(r.error as Error)?.message}`);
      // Steady state without the victim: ~2 s of calls started once it was dead, none failing,
      // all served by a and b.
      const steady = load.startedAfter(deadMark).filter((r) => r.start < tDead + 2400);
      const steadyFailures = steady.filter((r) => !r.ok);
      assert.ok(steady.length > 200, `steady load after the kill: only ${steady.length} calls`);
      assert.equal(steadyFailures.length, 0, `${steadyFailures.length} of ${steady.length} calls failed after the victim was gone:\n${describeRecords(steadyFailures, tDead)}`);
      assert.deepEqual(Object.keys(tally(steady.map((r) => r.server))).sort(), ['a', 'b'], 'calls after the kill are served by a and b only');

      // Restart on the same port. Bound: while the port refuses, failure accrual keeps the node
      // dead for ACCRUAL_BACKOFF_MS (300, constant) and then lets ONE probe through; each refused
      // probe marks it dead again. The pool tries no connect for CONNECT_BACKOFF_MS (200) after a
      // refused one — and the last refused connect was at the previous probe at the latest, so by
      // the time the next probe comes (300 ms later) that backoff is over and the probe connects.
      // Once the port accepts: ≤ 300 ms until the next probe, + one connect + one call (a few
      // ms; a probing node with load 0 wins every p2c draw it is in). So ~0.3-0.4 s; the bound
      // is 5 s for a noisy machine. (With a connect backoff longer than the accrual backoff,
      // probes would fail fast inside it and the bound would be the connect backoff instead.)
      const tRestart = Date.now();
      const c2 = await restart(c!, 'c2', LATENCY);
      const tReady = Date.now();
      const failuresBeforeRestart = load.records.filter((r) => !r.ok).length;
      const revival = await until('the restarted server to answer', () => load.records.some((r) => r.ok && r.server === 'c2' && r.start >= tReady), 5000);
      assert.ok(revival <= 5000);
      const tRevived = Date.now();
      await sleep(1000);
      const after = load.started(tRevived, tRevived + 1000);
      const share = tally(after.map((r) => r.server));
      assert.ok((share.c2 ?? 0) >= after.length * 0.1, `the restarted server takes its share of the load again: ${JSON.stringify(share)}`);
      const restartFailures = load.records.filter((r) => !r.ok).slice(failuresBeforeRestart);
      assert.equal(restartFailures.length, 0, `failures around the restart:\n${describeRecords(restartFailures, tRestart)}`);
      await load.stop();
      const vstate = nodeScope(client.stats, label, c2).state;
      report(`${proto.name}${variant} kill -9`, {
        killToExitMs: tDead - tKill,
        inFlightAtKill,
        sentWhileDying,
        failedAfterKill: failedAfterKill.length,
        failedStartedAfterSignal: failedAfterKill.filter((r) => r.start >= tKill).length,
        failedCodes: tally(failedAfterKill.map((r) => `${r.code}: ${(r.error as Error)?.message}`)),
        steadyCalls: steady.length,
        steadyServers: tally(steady.map((r) => r.server)),
        restartReadyMs: tReady - tRestart,
        firstAnswerAfterReadyMs: revival,
        shareAfterRevival: share,
        victimStates: vstate?.changes.map((ch) => ch.state).join('>'),
      });
    };

    test(
      'kill -9 of one of 3 servers under load: only its in-flight calls fail, the others take the load, and it gets traffic again once restarted',
      { timeout: 30_000 },
      killTest('', undefined, false),
    );
    if (proto.name === 'http') {
      test('kill -9 under GET load: even the GETs in flight on the killed server are retried on the others (idempotent): none fails', { timeout: 30_000 }, killTest('-get', 'GET', true));
    }

    test('all 3 servers down: calls fail fast with a typed error naming an endpoint; one restarted server serves again within the backoff bound', { timeout: 30_000 }, async () => {
      const label = `${proto.name}-alldown`;
      const TIMEOUT = 5000;
      const bs = await start(['a', 'b', 'c'], { latencyMs: 5 });
      const client = newClient(bs, { label, timeout: TIMEOUT });
      const load = newLoad(client);
      await warm(load, bs);
      await sleep(200);

      const tKill = Date.now();
      for (const b of bs) b.process.kill('SIGKILL');
      await Promise.all(bs.map((b) => b.process.exited));
      const tDead = Date.now();
      // Calls sent before the client has read every close may fail as ConnectionClosed (written to
      // a connection the peer had closed): count from the moment its pools hold no connection.
      // Under load the exit was seen a few ms before the closes were (one CI-like run: a call
      // started in the same ms as tDead failed so).
      await until('the client to see every connection closed', () => bs.every((b) => (nodeScope(client.stats, label, b).gauges.connections ?? 0) === 0), 2000);
      const downMark = load.mark();
      await sleep(1500);
      // A lone caller too (no concurrency hiding a slow call): each of its calls must fail fast.
      const lone: { ms: number; err: unknown }[] = [];
      for (let i = 0; i < 20; i++) {
        const t = Date.now();
        const err = await client.call(99, i).then(
          (server) => assert.fail(`a call succeeded with every server down (${server})`),
          (e: unknown) => e,
        );
        lone.push({ ms: Date.now() - t, err });
        await sleep(25);
      }

      const down = load.startedAfter(downMark);
      assert.ok(down.length > 100, `calls while every server was down: only ${down.length}`);
      const okDown = down.filter((r) => r.ok);
      assert.equal(okDown.length, 0, 'no call succeeds with every server down');
      const codes = new Set(['SCALES_ERR_CONNECT', 'SCALES_ERR_NODE_UNAVAILABLE', 'SCALES_ERR_NO_NODES']);
      const ports = bs.map(key);
      const check = (err: unknown, ms: number): void => {
        assert.ok(err instanceof ScalesError, `a typed ScalesError, got ${String(err)}`);
        assert.ok(codes.has(err.code), `code ${err.code} (${err.message})`);
        assert.ok(
          ports.some((p) => err.message.includes(p)),
          `the message names an endpoint (${ports.join(', ')}): ${err.message}`,
        );
        assert.ok(ms < 1000, `failed fast (timeout ${TIMEOUT} ms): took ${ms} ms: ${err.message}`);
      };
      for (const r of down) check(r.error, r.end - r.start);
      for (const l of lone) check(l.err, l.ms);
      // No caller is stuck: every caller finished a call recently.
      const stuck = [...Array(CALLERS).keys()].filter((k) => !load.records.some((r) => r.caller === k && r.start >= tDead + 500));
      assert.deepEqual(stuck, [], 'every caller keeps getting answers (no call hangs)');
      const downMs = down.map((r) => r.end - r.start).sort((x, y) => x - y);

      // Restart b on its port. Bound, as in the kill test: ≤ ACCRUAL_BACKOFF_MS (300) until b's
      // next probe, whose connect is no longer held back by CONNECT_BACKOFF_MS (200 < 300, counted
      // from the previous probe's refused connect at the latest), + one connect and one call:
      // ~0.3-0.4 s; bound 5 s.
      const failuresBefore = load.records.length;
      const b2 = await restart(bs[1]!, 'b2', 5);
      const _tReady = Date.now();
      const revival = await until('the restarted server to answer', () => load.records.some((r) => r.ok && r.server === 'b2'), 5000);
      const tRevived = Date.now();
      await sleep(1000);
      const after = load.started(tRevived + 100, tRevived + 1000);
      const afterFailures = after.filter((r) => !r.ok);
      assert.ok(after.length > 100, `calls after the revival: only ${after.length}`);
      assert.ok(afterFailures.length <= after.length * 0.01, `${afterFailures.length} of ${after.length} calls failed with one server back:\n${describeRecords(afterFailures, tRevived)}`);
      await load.stop();
      report(`${proto.name} all down`, {
        killToExitMs: tDead - tKill,
        downCalls: down.length,
        downCodes: tally(down.map((r) => r.code)),
        downMsMedian: downMs[downMs.length >> 1],
        downMsMax: downMs[downMs.length - 1],
        loneMsMax: Math.max(...lone.map((l) => l.ms)),
        loneSample: (lone[0]!.err as Error).message,
        callsBeforeRestart: failuresBefore,
        firstAnswerAfterReadyMs: revival,
        callsAfterRevival: after.length,
        failuresAfterRevival: afterFailures.length,
        b2States: nodeScope(client.stats, label, b2)
          .state?.changes.map((ch) => ch.state)
          .join('>'),
      });
    });

    test('a blackhole server among 2 healthy ones: its calls time out at the deadline, failure accrual marks it dead, and traffic moves', { timeout: 30_000 }, async () => {
      const label = `${proto.name}-blackhole`;
      const TIMEOUT = 500;
      const bs = await start(['a', 'b', 'h'], { latencyMs: 5, mode: (n) => (n === 'h' ? 'blackhole' : 'serve') });
      const h = bs[2]!;
      const client = newClient(bs, { label, timeout: TIMEOUT });
      const load = newLoad(client);
      const t0 = Date.now();
      const toDead = await until('the blackhole node to be marked dead', () => nodeScope(client.stats, label, h).state?.changes.some((ch) => ch.state === 'dead') === true, 5000);
      const tDead = Date.now();
      const hAtDead = counter(nodeScope(client.stats, label, h), 'requests');
      await sleep(2500);
      await load.stop();

      const hScope = nodeScope(client.stats, label, h);
      // Every failure is a timeout at the deadline, not much later.
      const failures = load.records.filter((r) => !r.ok);
      assert.ok(failures.length > 0, 'calls landed on the blackhole');
      for (const r of failures) {
        const took = r.end - r.start;
        // On a loaded machine a pool may also refuse a call that could no longer finish in time
        // (admission control: local, before the deadline) rather than send it to time out.
        if (r.error instanceof OverloadedError && r.error.local) {
          assert.ok(took <= TIMEOUT + 300, `refused by admission before its deadline: took ${took} ms`);
          continue;
        }
        assert.ok(r.error instanceof TimeoutError, `a blackholed call fails with TimeoutError, got ${r.code}: ${(r.error as Error)?.message}`);
        assert.ok(took >= TIMEOUT - 5 && took <= TIMEOUT + 300, `a blackholed call fails at its ${TIMEOUT} ms deadline: took ${took} ms`);
      }
      assert.equal(
        hScope.state?.changes.some((ch) => ch.state === 'dead'),
        true,
        `blackhole node state history: ${JSON.stringify(hScope.state)}`,
      );
      assert.ok(toDead < 3000, `the blackhole node is marked dead within a few timeouts (took ${toDead} ms)`);

      // Calls that started once it was dead reach it only as probes (one per 'probing' period).
      // From the next millisecond: a call started in the one it was marked dead in may have been
      // sent to it just before (it failed once, at 0 ms, with 3 probes for 4 failures).
      const window = load.started(tDead + 1);
      const probes = (hScope.state?.changes ?? []).filter((ch) => ch.state === 'probing' && ch.at >= tDead).length;
      const windowFailures = window.filter((r) => !r.ok);
      assert.ok(window.length > 300, `calls after the node was marked dead: only ${window.length}`);
      assert.ok(
        windowFailures.length <= probes,
        `${windowFailures.length} of ${window.length} calls failed after the node was marked dead; only ${probes} probes:\n${describeRecords(windowFailures, tDead)}`,
      );
      assert.ok(windowFailures.length <= window.length * 0.02, 'nearly all calls succeed once the blackhole is marked dead');
      const hGrowth = counter(hScope, 'requests') - hAtDead;
      assert.ok(hGrowth <= probes + 1, `the blackhole's request counter grew by ${hGrowth} after it was marked dead, with ${probes} probes`);
      const servers = tally(window.filter((r) => r.ok).map((r) => r.server));
      assert.deepEqual(Object.keys(servers).sort(), ['a', 'b'], 'successes come from the healthy servers');
      const tookMs = failures.map((r) => r.end - r.start);
      report(`${proto.name} blackhole`, {
        toDeadMs: toDead,
        sinceLoadStartMs: tDead - t0,
        failures: failures.length,
        failureMs: `${Math.min(...tookMs)}..${Math.max(...tookMs)}`,
        windowCalls: window.length,
        windowFailures: windowFailures.length,
        probes,
        hRequestsAtDead: hAtDead,
        hGrowthAfterDead: hGrowth,
        hStates: hScope.state?.changes.map((ch) => ch.state).join('>'),
        servers,
      });
    });

    test("a server failing every call (mode 'fail') among 2 healthy ones: failure accrual marks it dead and traffic moves", { timeout: 30_000 }, async () => {
      const label = `${proto.name}-fail`;
      const bs = await start(['a', 'b', 'f'], { latencyMs: 5, mode: (n) => (n === 'f' ? 'fail' : 'serve') });
      const f = bs[2]!;
      const client = newClient(bs, { label, timeout: 2000 });
      const load = newLoad(client);
      const toDead = await until('the failing node to be marked dead', () => nodeScope(client.stats, label, f).state?.changes.some((ch) => ch.state === 'dead') === true, 5000);
      const tDead = Date.now();
      const fAtDead = counter(nodeScope(client.stats, label, f), 'requests');
      await sleep(2500);
      await load.stop();

      const fScope = nodeScope(client.stats, label, f);
      const failures = load.records.filter((r) => !r.ok);
      for (const r of failures) assert.ok(proto.isServerFailure(r.error), `a failure is the failing server's answer, got ${r.code}: ${(r.error as Error)?.message}`);
      assert.ok(counter(fScope, 'failures') > 0 && counter(fScope, 'successes') === 0, `node stats of the failing server: ${JSON.stringify(fScope.counters)}`);
      assert.ok(toDead < 2000, `the failing node is marked dead quickly (took ${toDead} ms)`);

      // Calls that started once it was dead reach it only as probes (one per 'probing' period);
      // from the next millisecond, as above.
      const window = load.started(tDead + 1);
      const probes = (fScope.state?.changes ?? []).filter((ch) => ch.state === 'probing' && ch.at >= tDead).length;
      const windowFailures = window.filter((r) => !r.ok);
      assert.ok(window.length > 300, `calls after the node was marked dead: only ${window.length}`);
      assert.ok(probes >= 2, `the dead node is probed every ~${ACCRUAL_BACKOFF_MS} ms (${probes} probes in 2.5 s)`);
      assert.ok(
        windowFailures.length <= probes,
        `${windowFailures.length} of ${window.length} calls failed after the node was marked dead; only ${probes} probes:\n${describeRecords(windowFailures, tDead)}`,
      );
      const fGrowth = counter(fScope, 'requests') - fAtDead;
      assert.ok(fGrowth <= probes + 1, `the failing node's request counter grew by ${fGrowth} after it was marked dead, with ${probes} probes`);
      assert.deepEqual(Object.keys(tally(window.filter((r) => r.ok).map((r) => r.server))).sort(), ['a', 'b'], 'successes come from the healthy servers');
      report(`${proto.name} fail`, {
        toDeadMs: toDead,
        failuresTotal: failures.length,
        failuresBeforeDead: failures.filter((r) => r.start < tDead).length,
        windowCalls: window.length,
        windowFailures: windowFailures.length,
        probes,
        fRequestsAtDead: fAtDead,
        fGrowthAfterDead: fGrowth,
        fStates: fScope.state?.changes.map((ch) => ch.state).join('>'),
      });
    });
  });
}
