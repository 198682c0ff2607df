// Serverset churn under load, end to end over real TCP (in-process servers), Thrift and HTTP:
// a live StaticServerSet starts with 6 servers; while 16 callers keep calling (each call takes
// a few ms on the server, so calls are in flight when their node leaves), every 100 ms a node
// is added (a fresh server) or removed (≥ 2 stay). Then:
// - no call fails, and no attempt fails below the balancer either (nothing was retried);
// - a removed node gets no call after its removal: every dispatch to it (recorded by a layer
//   right under the balancer, in event order, so no timing is involved) happened before, and the
//   server received exactly the calls dispatched to it;
// - the calls in flight on a node when it was removed all finished successfully;
// - a removed node's connections are all closed once it drained (server-side count → 0).
import assert from 'node:assert/strict';
import { layer } from '../../src/core/stack.js';
import { after, before, describe, test } from 'node:test';
import type { CallContext, Service, Status } from '../../src/core/service.js';
import { StaticServerSet } from '../../src/discovery/serverset.js';
import { formatAddress, type Address } from '../../src/discovery/uri.js';
import { connectHttp } from '../../src/protocols/http/session.js';
import { clientGauge, errorCode, fmt, makeClient, PROTOCOLS, runLoad, sleep, startCountingServer, until, type CountingServer, type DistClient, type LoadResult, type Proto } from './dist-helpers.js';
import { Rng } from '../../src/balancer/random.js';

const INITIAL = 6;
const MIN_NODES = 2;
const MAX_NODES = 8;
const CALLERS = 16;
const LATENCY_MS = 4;
const CHURN_EVERY_MS = 100;
const CHURN_FOR_MS = 3000;

/** Event order shared by the churn driver and the recorder: single-threaded, so exact. */
let clock = 0;

interface NodeRecord {
  dispatched: number;
  inFlight: number;
  lastDispatch: number;
  failed: number;
  /** `clock` at removal (undefined while a member). */
  removedAt?: number;
  inFlightAtRemoval?: number;
  /** Calls in flight at removal that later succeeded / failed. */
  drainedOk: number;
  drainedFailed: number;
}

/** Per node, under the balancer: records every attempt dispatched to the node, in `clock` order. */
class Recorder<Req, Rep> implements Service<Req, Rep> {
  constructor(
    private readonly below: Service<Req, Rep>,
    private readonly rec: NodeRecord,
    private readonly errors: unknown[],
  ) {}

  get status(): Status {
    return this.below.status;
  }

  call(req: Req, ctx: CallContext): Promise<Rep> {
    const rec = this.rec;
    const at = ++clock;
    rec.dispatched++;
    rec.inFlight++;
    rec.lastDispatch = at;
    const settle = (ok: boolean): void => {
      rec.inFlight--;
      if (!ok) rec.failed++;
      if (rec.removedAt !== undefined && at < rec.removedAt) {
        if (ok) rec.drainedOk++;
        else rec.drainedFailed++;
      }
    };
    const p = this.below.call(req, ctx);
    p.then(
      () => settle(true),
      (err: unknown) => {
        if (this.errors.length < 5) this.errors.push(err);
        settle(false);
      },
    );
    return p;
  }

  close(): Promise<void> {
    return this.below.close();
  }
}

/** Deterministic uniform [0, 1) from a seed (the pickers' PRNG), so a failing run can be replayed. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.float();
}

interface ChurnOutcome {
  readonly seed: number;
  readonly label: string;
  readonly client: DistClient;
  readonly load: LoadResult;
  readonly members: CountingServer[];
  readonly removed: CountingServer[];
  readonly adds: number;
  readonly records: Map<string, NodeRecord>;
  readonly attemptErrors: unknown[];
  readonly key: (s: CountingServer) => string;
}

/** Runs the load and the churn; everything is asserted afterwards by the tests. */
async function churn(proto: Proto, servers: CountingServer[], sets: StaticServerSet[]): Promise<ChurnOutcome> {
  const seed = Number(process.env.CHURN_SEED ?? Date.now() % 100_000);
  const random = rng(seed);
  const label = `${proto}-churn`;
  let serial = 0;
  const newServer = async (): Promise<CountingServer> => {
    const s = await startCountingServer(proto, `s${serial++}`, LATENCY_MS);
    servers.push(s);
    return s;
  };
  const addr = (s: CountingServer): Address => ({ host: '127.0.0.1', port: s.port });
  const key = (s: CountingServer): string => formatAddress(addr(s));
  const records = new Map<string, NodeRecord>();
  const record = (k: string): NodeRecord => {
    let r = records.get(k);
    if (r === undefined) records.set(k, (r = { dispatched: 0, inFlight: 0, lastDispatch: 0, failed: 0, drainedOk: 0, drainedFailed: 0 }));
    return r;
  };
  const attemptErrors: unknown[] = [];

  const members: CountingServer[] = [];
  for (let i = 0; i < INITIAL; i++) members.push(await newServer());
  const removed: CountingServer[] = [];
  const set = new StaticServerSet(members.map(addr));
  sets.push(set);
  const recorderLayer = layer('dispatch-recorder', 'records attempts per node (test)', (below: Service<unknown, unknown>, at) => new Recorder(below, record(at.key!), attemptErrors));
  const client = makeClient(proto, set, label, (b) => b.withStack((s) => s.insertAfter('loadbalancer', recorderLayer)));

  let stop = false;
  let adds = 0;
  const running = runLoad(client.who, { concurrency: CALLERS, stop: () => stop });
  try {
    await sleep(200); // connections up before the churn starts
    const churnStart = Date.now();
    while (Date.now() - churnStart < CHURN_FOR_MS) {
      await sleep(CHURN_EVERY_MS);
      const add = members.length <= MIN_NODES ? true : members.length >= MAX_NODES ? false : random() < 0.5;
      if (add) {
        members.push(await newServer());
        adds++;
      } else {
        const [gone] = members.splice(Math.floor(random() * members.length), 1);
        const rec = record(key(gone!));
        rec.removedAt = ++clock;
        rec.inFlightAtRemoval = rec.inFlight;
        removed.push(gone!);
      }
      set.update(members.map(addr));
    }
  } finally {
    stop = true;
  }
  const load = await running;
  return { seed, label, client, load, members, removed, adds, records, attemptErrors, key };
}

for (const proto of PROTOCOLS) {
  describe(`${proto}: serverset churn under load (${INITIAL} nodes, a change every ${CHURN_EVERY_MS} ms for ${CHURN_FOR_MS} ms, ${CALLERS} callers)`, () => {
    const servers: CountingServer[] = [];
    const sets: StaticServerSet[] = [];
    let o: ChurnOutcome;
    const rec = (s: CountingServer): NodeRecord => o.records.get(o.key(s))!;

    before(async () => {
      o = await churn(proto, servers, sets);
      const { load: r, removed } = o;
      const inFlightAtRemoval = removed.reduce((n, s) => n + (rec(s).inFlightAtRemoval ?? 0), 0);
      const drainedOk = removed.reduce((n, s) => n + rec(s).drainedOk, 0);
      const attemptsFailed = [...o.records.values()].reduce((n, x) => n + x.failed, 0);
      console.log(
        `# ${proto} churn (seed ${o.seed}): ${r.ok} calls ok in ${r.elapsedMs} ms, failures {${fmt(r.failures)}}; ${o.adds} adds, ${removed.length} removals, ${o.members.length} nodes at the end; ` +
          `calls in flight on nodes when removed: ${inFlightAtRemoval} (finished ok: ${drainedOk}); attempts failed below the balancer: ${attemptsFailed}; retries: ${clientGauge(o.client.stats, o.label, 'retries')}`,
      );
    });

    after(async () => {
      await o?.client.close();
      for (const set of sets) set.close();
      await Promise.all(servers.map((s) => s.close()));
    });

    test('the churn really happened, under real load', () => {
      // Alone this makes ~7,000 calls; beside a heavy test file on 2 cores it made 970. The
      // point is load during the churn (calls in flight when nodes leave, checked below), not speed.
      assert.ok(o.load.ok > 200, `only ${o.load.ok} calls made`);
      assert.ok(o.removed.length >= 8 && o.adds >= 8, `churn too small: ${o.adds} adds, ${o.removed.length} removals`);
    });

    test('no call fails, no attempt fails below the balancer, nothing is retried', () => {
      const r = o.load;
      assert.equal(r.failures.size, 0, `calls failed: ${fmt(r.failures)}: ${String(r.firstErrors[0])}`);
      const attemptsFailed = [...o.records.values()].reduce((n, x) => n + x.failed, 0);
      assert.equal(attemptsFailed, 0, `attempts failed below the balancer: ${o.attemptErrors.map((e) => `${errorCode(e)}: ${String(e)}`).join('; ')}`);
      assert.equal(clientGauge(o.client.stats, o.label, 'retries'), 0);
    });

    test('calls in flight on a node when it is removed finish, successfully', () => {
      const inFlightAtRemoval = o.removed.reduce((n, s) => n + (rec(s).inFlightAtRemoval ?? 0), 0);
      assert.ok(inFlightAtRemoval > 0, 'no call was in flight on any removed node: the drain was not exercised');
      assert.equal(
        o.removed.reduce((n, s) => n + rec(s).drainedOk, 0),
        inFlightAtRemoval,
      );
      assert.equal(
        o.removed.reduce((n, s) => n + rec(s).drainedFailed, 0),
        0,
      );
      for (const s of o.removed) assert.equal(rec(s).inFlight, 0, `${s.name} still has calls in flight`);
    });

    test('a removed node gets no call after its removal; every server saw exactly what was dispatched to it', () => {
      for (const s of o.removed) {
        const r = rec(s);
        assert.ok(r.lastDispatch < r.removedAt!, `${s.name} (${o.key(s)}) got a call dispatched after its removal`);
        assert.equal(s.requests, r.dispatched, `${s.name}: server received ${s.requests}, client dispatched ${r.dispatched}`);
      }
      for (const s of o.members) assert.equal(s.requests, o.records.get(o.key(s))?.dispatched ?? 0, `${s.name} (member)`);
    });

    test('stats follow the membership: node count, added/removed counters, per-node scopes of removed nodes dropped', () => {
      const snap = o.client.stats.snapshot().scopes;
      const top = snap[`client=${o.label}`];
      assert.equal(top?.gauges['nodes'], o.members.length);
      assert.equal(top?.counters['nodes_removed'], o.removed.length);
      assert.equal(top?.counters['nodes_added'], INITIAL + o.adds);
      const nodeScopes = Object.keys(snap).filter((p) => p.startsWith(`client=${o.label}/node=`));
      assert.deepEqual(nodeScopes.map((p) => p.split('node=')[1]).sort(), o.members.map(o.key).sort());
    });

    test("a removed node's connections are all closed once it drained; members keep theirs", async () => {
      await until(
        () =>
          `removed servers' connections to close: ${o.removed
            .filter((s) => s.connections > 0)
            .map((s) => `${s.name}=${s.connections} (${JSON.stringify(rec(s))})`)
            .join(' ')}`,
        () => o.removed.every((s) => s.connections === 0),
        5000,
      );
      for (const s of o.members) if ((o.records.get(o.key(s))?.dispatched ?? 0) > 0) assert.ok(s.connections >= 1, `${s.name} (member) has no connection`);
    });
  });
}

// An HTTP session hands its socket to undici only at its first request: one closed before that
// (opened for a waiter another connection served, then reaped or its node removed) must still close it.
test('http: a session closed before it carried any request closes its TCP connection', async () => {
  const server = await startCountingServer('http', 'x', 0);
  try {
    const session = await connectHttp({ host: '127.0.0.1', port: server.port }, 1000);
    await until(
      () => 'the server to see the connection',
      () => server.connections === 1,
    );
    await session.close();
    assert.equal(session.status, 'closed');
    await until(
      () => `the connection to close (server still has ${server.connections} open)`,
      () => server.connections === 0,
      2000,
    );
  } finally {
    await server.close();
  }
});
