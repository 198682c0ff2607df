// The retry budget end to end, Thrift and HTTP, against a real backend process in 'reset' mode:
// it accepts every connection and resets it (RST) as soon as a request arrives, so 100% of
// calls fail with ConnectionClosed after the request was written. By the classifier that is
// retryable only for idempotent calls (Thrift: withIdempotent(['echo']); HTTP: GET is idempotent
// by default). Failure accrual is off so every attempt really goes to the node.
//
// Attempts are counted by a layer right under 'retries' (so: what reached the balancer), and
// cross-checked with the backend's own count of requests received. Claims:
// - with a budget { percentCanRetry: 0.2, minRetriesPerSec: 5, ttl: 10 s }, N calls make at most
//   0.2·N + 5·10 retries (the run is shorter than the ttl, so no token expires meanwhile), and
//   about that many: the budget, not something else, is what stops them;
// - with no practical budget (percentCanRetry 1000) the same calls make maxRetries (2) retries
//   each: the limit above is the budget's doing;
// - a non-idempotent call (Thrift without withIdempotent, HTTP POST) is never retried after the
//   connection closed on it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CallContext, Service, Status } from '../../src/core/service.js';
import { layer } from '../../src/core/stack.js';
import { Http } from '../../src/protocols/http/index.js';
import { Thrift } from '../../src/protocols/thrift/index.js';
import type { RetryBudgetOptions } from '../../src/resilience/retry-budget.js';
import type { StatsRegistry } from '../../src/stats/registry.js';
import { EchoService } from '../fixtures/echo-service.js';
import { startBackend, type Backend } from '../harness/backends.js';
import { clientGauge, fmt, PROTOCOLS, runLoad, type Proto } from './dist-helpers.js';

const CALLS = 600;
const CONCURRENCY = 8;
const MAX_RETRIES = 2;
const BUDGET = { percentCanRetry: 0.2, minRetriesPerSec: 5, ttl: 10_000 } as const;
/** Deposits start expiring after ttl·(1 − 1/slices) (10 slices): a run must end before that. */
const NO_EXPIRY_MS = BUDGET.ttl * 0.9;

/** Counts every call that passes through it (placed under 'retries': one per attempt). */
class Counting<Req, Rep> implements Service<Req, Rep> {
  constructor(
    private readonly below: Service<Req, Rep>,
    private readonly counter: { n: number },
  ) {}
  get status(): Status {
    return this.below.status;
  }
  call(req: Req, ctx: CallContext): Promise<Rep> {
    this.counter.n++;
    return this.below.call(req, ctx);
  }
  close(): Promise<void> {
    return this.below.close();
  }
}

interface Run {
  readonly calls: number;
  readonly attempts: number;
  readonly retries: number;
  readonly gaugeRetries: number | undefined;
  readonly budgetExhausted: number | undefined;
  readonly failures: Map<string, number>;
  readonly serverRequests: number;
  readonly elapsedMs: number;
}

/** CALLS calls through a fresh client against the resetting backend. */
async function run(proto: Proto, backend: Backend, budget: RetryBudgetOptions, opts: { idempotent: boolean; label: string }): Promise<Run> {
  const counter = { n: 0 };
  const counting = layer('attempt-counter', 'counts attempts (test)', (below: Service<unknown, unknown>) => new Counting(below, counter));
  const dest = `tcp://127.0.0.1:${backend.port}`;
  let call: () => Promise<string>;
  let stats: StatsRegistry;
  let close: () => Promise<void>;
  if (proto === 'thrift') {
    let b = Thrift.newBuilder(EchoService)
      .withLabel(opts.label)
      .withFailureAccrual(false)
      .withRetries({ maxRetries: MAX_RETRIES })
      .withRetryBudget(budget)
      .withStack((s) => s.insertAfter('retries', counting));
    if (opts.idempotent) b = b.withIdempotent(['echo']);
    const c = b.build(dest);
    call = () => c.echo(1n, 0, 'who').then((r) => r.payload);
    stats = c.$stats;
    close = () => c.$close();
  } else {
    const c = Http.newBuilder()
      .withLabel(opts.label)
      .withFailureAccrual(false)
      .withRetries({ maxRetries: MAX_RETRIES })
      .withRetryBudget(budget)
      .withStack((s) => s.insertAfter('retries', counting))
      .build(dest);
    call = () => (opts.idempotent ? c.get('/who') : c.post('/who', 'x')).then((r) => r.text());
    stats = c.$stats;
    close = () => c.$close();
  }
  const before = (await backend.counts()).requests;
  try {
    const r = await runLoad(call, { concurrency: CONCURRENCY, calls: CALLS });
    assert.equal(r.ok, 0, 'the resetting backend answered a call');
    const serverRequests = (await backend.counts()).requests - before;
    return {
      calls: CALLS,
      attempts: counter.n,
      retries: counter.n - CALLS,
      gaugeRetries: clientGauge(stats, opts.label, 'retries'),
      budgetExhausted: clientGauge(stats, opts.label, 'retries_budget_exhausted'),
      failures: r.failures,
      serverRequests,
      elapsedMs: r.elapsedMs,
    };
  } finally {
    await close();
  }
}

function report(proto: Proto, what: string, r: Run, bound?: number): void {
  console.log(
    `# ${proto} ${what}: ${r.calls} calls in ${r.elapsedMs} ms, ${r.attempts} attempts → ${r.retries} retries` +
      `${bound === undefined ? '' : ` (budget bound ${bound})`}; budget refusals ${r.budgetExhausted}; backend saw ${r.serverRequests} requests; caller errors {${fmt(r.failures)}}`,
  );
}

for (const proto of PROTOCOLS) {
  describe(`${proto}: retry budget against a backend that resets every connection`, () => {
    let backend: Backend;
    before(async () => {
      backend = await startBackend({ protocol: proto, mode: 'reset', name: `reset-${proto}` });
    });
    after(async () => {
      await backend?.stop();
    });

    const consistent = (r: Run): void => {
      assert.equal(r.gaugeRetries, r.retries, "the retries layer's own count agrees with the attempts counted under it");
      // Every attempt reached the backend (none failed in the client before being sent).
      assert.equal(r.serverRequests, r.attempts, `backend saw ${r.serverRequests} requests for ${r.attempts} attempts`);
      assert.deepEqual([...r.failures.keys()], ['SCALES_ERR_CONNECTION_CLOSED'], `caller errors: ${fmt(r.failures)}`);
    };

    test(`retries stay within percentCanRetry × requests + minRetriesPerSec × ttl (${BUDGET.percentCanRetry}, ${BUDGET.minRetriesPerSec}/s, ${BUDGET.ttl} ms)`, async () => {
      const r = await run(proto, backend, BUDGET, { idempotent: true, label: `${proto}-budget` });
      const bound = BUDGET.percentCanRetry * CALLS + BUDGET.minRetriesPerSec * (BUDGET.ttl / 1000);
      report(proto, 'budgeted', r, bound);
      assert.ok(r.elapsedMs < NO_EXPIRY_MS, `the run took ${r.elapsedMs} ms: tokens started expiring, the bound below does not apply`);
      consistent(r);
      assert.ok(r.retries <= bound + 1, `${r.retries} retries for ${CALLS} calls, budget allows ${bound}`);
      // ...and the budget is what stopped them: it was spent (nearly) to the last token.
      assert.ok(r.retries >= bound * 0.9, `only ${r.retries} retries, the budget allowed ${bound}`);
      assert.ok((r.budgetExhausted ?? 0) > 0, 'no retry was refused by the budget');
    });

    test(`control: without a budget limit every call is retried maxRetries (${MAX_RETRIES}) times`, async () => {
      const r = await run(proto, backend, { percentCanRetry: 1000, minRetriesPerSec: 0, ttl: BUDGET.ttl }, { idempotent: true, label: `${proto}-unbudgeted` });
      report(proto, 'unbudgeted', r);
      consistent(r);
      assert.ok(r.retries >= MAX_RETRIES * CALLS * 0.98 && r.retries <= MAX_RETRIES * CALLS, `${r.retries} retries, want ≈ ${MAX_RETRIES * CALLS}`);
      assert.equal(r.budgetExhausted, 0);
    });

    test(`control: a call that is not idempotent (${proto === 'thrift' ? 'no withIdempotent' : 'POST'}) is not retried after the connection closed on it`, async () => {
      const r = await run(proto, backend, { percentCanRetry: 1000, minRetriesPerSec: 0, ttl: BUDGET.ttl }, { idempotent: false, label: `${proto}-not-idempotent` });
      report(proto, 'not idempotent', r);
      consistent(r);
      assert.equal(r.retries, 0);
    });
  });
}
