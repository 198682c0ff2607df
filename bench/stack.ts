/**
 * The client stack's own cost per call, in process, without I/O: the default stack over a fake
 * session that answers at once, against that fake session alone, and with one role removed at a
 * time (what each role costs). 100 calls in flight, best of 3 rounds, the compiled dist/ code.
 * Steadier than the RPC pairs on a shared machine, so it is the number to watch for regressions.
 *   npx tsc -p tsconfig.build.json && npx tsx bench/stack.ts
 */
import { pathToFileURL } from 'node:url';
import type { ReplyHandler, Service } from '../src/core/service.js';
import type { PooledConnection } from '../src/pool/types.js';
import { loadScales } from './peers/runtime.js';

type StackModule = typeof import('../src/client/stack.js');
type ServiceModule = typeof import('../src/core/service.js');
type ServerSetModule = typeof import('../src/discovery/serverset.js');

export interface StackCostRow {
  readonly what: string;
  readonly nsPerCall: number;
}

/**
 * A session that answers every call in the next microtask, through a promise when called alone
 * and through the handler when the stack dispatches to it (a real session calls the handler from
 * its read loop). The same delay both ways, so the difference is the stack; answering inside
 * dispatch instead would leave no call in flight, and a timer is far dearer when it is the only
 * one of its duration.
 */
class InstantSession implements PooledConnection<number, number> {
  readonly load = 0;
  readonly status = 'open' as const;
  call(req: number): Promise<number> {
    return new Promise((resolve) => queueMicrotask(() => resolve(req)));
  }
  dispatch(req: number, _ctx: unknown, handler: ReplyHandler<number>): void {
    queueMicrotask(() => handler.onReply(req));
  }
  // Never busy after a settled call: a pool's graceful close need not count calls itself.
  whenIdle(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

export async function runStackBench(calls = 400_000): Promise<StackCostRow[]> {
  const [{ clientStack }, { CallContext }, { StaticServerSet }] = await Promise.all([
    loadScales<StackModule>('client/stack.js'),
    loadScales<ServiceModule>('core/service.js'),
    loadScales<ServerSetModule>('discovery/serverset.js'),
  ]);
  const session = new InstantSession();
  const build = (without?: string): Service<number, number> => {
    const parts = { connect: () => Promise.resolve(session), transportDescription: 'instant', defaultPool: { kind: 'singleton' as const }, multiplexed: true };
    let { stack } = clientStack<number, number>(parts, {}, new StaticServerSet([{ host: '127.0.0.1', port: 1 }]), 'bench');
    if (without !== undefined) stack = stack.remove(without);
    return stack.build<number, number>();
  };
  // 'shared': every call carries one AbortSignal (a request's signal handed to all its calls).
  const measure = async (svc: Service<number, number>, deadlineMs?: number, signal?: 'shared' | 'own'): Promise<number> => {
    const shared = new AbortController().signal;
    let best = Infinity;
    for (let round = 0; round < 3; round++) {
      let i = 0;
      const t0 = performance.now();
      const worker = async (): Promise<void> => {
        while (i < calls) {
          i++;
          // A deadline as the client proxy makes one from a timeout.
          const sig = signal === 'shared' ? shared : signal === 'own' ? new AbortController().signal : undefined;
          await svc.call(i, CallContext.expiring('m', deadlineMs, undefined, sig));
        }
      };
      await Promise.all(Array.from({ length: 100 }, worker));
      best = Math.min(best, ((performance.now() - t0) * 1e6) / calls);
    }
    return best;
  };
  const full = build();
  await measure(full); // warm-up: the JIT sees the whole stack before anything is timed
  const rows: StackCostRow[] = [{ what: 'the session alone (no stack)', nsPerCall: await measure(session) }];
  rows.push({ what: 'full default stack', nsPerCall: await measure(full) });
  rows.push({ what: 'full default stack, every call with a 1 s deadline', nsPerCall: await measure(full, 1000) });
  rows.push({ what: 'full default stack, 100 calls in flight sharing one AbortSignal', nsPerCall: await measure(full, undefined, 'shared') });
  rows.push({ what: 'full default stack, every call with its own AbortController', nsPerCall: await measure(full, undefined, 'own') });
  for (const role of ['stats', 'retries', 'failure-accrual']) rows.push({ what: `full stack without '${role}'`, nsPerCall: await measure(build(role)) });
  await full.close();
  return rows;
}

export function stackCostTable(rows: readonly StackCostRow[]): string {
  const alone = rows[0]!.nsPerCall;
  return [
    '| what | ns/call | over the session alone |',
    '| --- | ---: | ---: |',
    ...rows.map((r) => `| ${r.what} | ${Math.round(r.nsPerCall)} | ${r === rows[0] ? '' : `+${Math.round(r.nsPerCall - alone)} ns`} |`),
  ].join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(stackCostTable(await runStackBench()));
}
