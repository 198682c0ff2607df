// Deadlines: the DeadlineList that keeps a client's call deadlines on one timer, and the timeout
// role over a scripted node (pure timing logic; the real-server timeout tests are in test/thrift
// and test/stack).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { performance } from 'node:perf_hooks';
import { newCallContext } from '../../src/core/context.js';
import { TimeoutError } from '../../src/core/errors.js';
import type { Service } from '../../src/core/service.js';
import { DeadlineList, DeadlineLists, type DeadlineEntry } from '../../src/resilience/deadline-list.js';
import { timeoutLayer } from '../../src/resilience/timeout.js';
import { ScriptedService, sleep } from './fake-service.js';
import { until } from '../harness/wait.js';

function entry(name: string, inMs: number, fired: string[]): DeadlineEntry {
  return {
    expiresAt: performance.now() + inMs,
    prevDeadline: undefined,
    nextDeadline: undefined,
    deadlineList: undefined,
    expire: () => fired.push(name),
  };
}

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('DeadlineList', () => {
  test('entries expire in order, each once, not before their time; removed ones never', async () => {
    const list = new DeadlineList();
    const fired: string[] = [];
    const a = entry('a', 30, fired);
    const b = entry('b', 60, fired);
    const c = entry('c', 90, fired);
    const t0 = performance.now();
    assert.ok(list.add(a) && list.add(b) && list.add(c));
    list.remove(b);
    list.remove(b); // twice: a no-op
    await sleep(45);
    assert.deepEqual(fired, ['a']);
    await sleep(70);
    assert.deepEqual(fired, ['a', 'c']);
    assert.ok(performance.now() - t0 >= 90);
    assert.equal(list.size, 0);
  });

  test('an entry due before the tail is refused (its caller keeps its own timer)', () => {
    const list = new DeadlineList();
    const fired: string[] = [];
    const late = entry('late', 1000, fired);
    const early = entry('early', 10, fired);
    assert.equal(list.add(late), true);
    assert.equal(list.add(early), false);
    assert.equal(early.deadlineList, undefined);
    list.remove(late);
  });

  test("a list that empties keeps its timer unref'd; the next entry takes it back, or a new one if it is due sooner", async () => {
    const before = timers();
    const list = new DeadlineList();
    const fired: string[] = [];
    const first = entry('first', 2000, fired);
    list.add(first);
    list.remove(first);
    assert.equal(timers(), before, 'the idle timer does not keep the process alive');
    const t0 = performance.now();
    const sooner = entry('sooner', 30, fired); // due long before the idle timer fires (2 s)
    list.add(sooner);
    assert.equal(timers(), before + 1, 'one timer, holding the process again');
    // Well before the idle timer: without a timer of its own it would expire at 2 s.
    await until('sooner expired', () => fired.includes('sooner'), 1000);
    assert.ok(performance.now() - t0 >= 30, 'not before its time');
    const later = entry('later', 60, fired);
    list.add(later);
    list.remove(later);
    const last = entry('last', 80, fired); // after the idle timer (60 ms): that timer serves
    list.add(last);
    assert.equal(timers(), before + 1);
    await until('last expired', () => fired.includes('last'));
    assert.deepEqual(fired, ['sooner', 'last']);
    assert.equal(list.size, 0);
  });

  test('the bar is the tail: a settled tail no longer refuses what comes after the rest', () => {
    const list = new DeadlineList();
    const fired: string[] = [];
    const a = entry('a', 1000, fired);
    const b = entry('b', 3000, fired);
    assert.ok(list.add(a) && list.add(b));
    list.remove(b);
    const c = entry('c', 2000, fired);
    assert.equal(list.add(c), true, 'due after the tail a');
    list.remove(a);
    list.remove(c);
    assert.equal(list.size, 0);
  });

  test('DeadlineLists: calls of two timeouts, interleaved, each find a list and expire on time; one due before every tail is refused', async () => {
    const lists = new DeadlineLists(2);
    const fired: string[] = [];
    const t0 = performance.now();
    const es = [entry('long1', 120, fired), entry('short1', 30, fired), entry('long2', 121, fired), entry('short2', 31, fired)];
    for (const e of es) assert.equal(lists.add(e), true, 'each goes into a list in order');
    assert.equal(lists.size, 4);
    assert.equal(lists.add(entry('shortest', 10, fired)), false, 'before both tails: its own timer');
    await until('the short ones expired', () => fired.length === 2);
    assert.deepEqual(fired, ['short1', 'short2']);
    assert.ok(performance.now() - t0 >= 31, 'not before their time');
    await until('the long ones expired', () => fired.length === 4);
    assert.deepEqual(fired.slice(2), ['long1', 'long2']);
    assert.ok(performance.now() - t0 >= 121);
    assert.equal(lists.size, 0);
  });

  test('an empty list holds no timer: an idle client does not keep the process alive', () => {
    const before = timers();
    const list = new DeadlineList();
    const fired: string[] = [];
    const es = [entry('1', 5000, fired), entry('2', 5000, fired), entry('3', 5000, fired)];
    for (const e of es) list.add(e);
    assert.equal(timers(), before + 1, 'one timer for the whole list');
    for (const e of es) list.remove(e);
    assert.equal(timers(), before);
    assert.deepEqual(fired, []);
  });
});

describe('timeout role', () => {
  const make = (answerAfter: (n: number) => number): { svc: Service<string, string>; node: ScriptedService<string, string> } => {
    const node = new ScriptedService<string, string>((n) => ({ reply: `reply ${n}`, after: answerAfter(n) }));
    return { svc: timeoutLayer().make(node) as Service<string, string>, node };
  };

  test('calls with different timeouts each fail at their own deadline, shorter after longer too', async () => {
    const { svc, node } = make(() => 10_000);
    const t0 = performance.now();
    const took = (p: Promise<string>): Promise<number> =>
      p.then(
        () => -1,
        (err: unknown) => {
          assert.ok(err instanceof TimeoutError, String(err));
          return performance.now() - t0;
        },
      );
    // The 300 ms call goes into the list first; the 60 ms one is due before it (its own timer).
    const long = took(svc.call('a', newCallContext('m', { timeout: 300 }, undefined)));
    const short = took(svc.call('b', newCallContext('m', { timeout: 60 }, undefined)));
    const [l, s] = await Promise.all([long, short]);
    assert.ok(s >= 59 && s < 250, `the 60 ms call failed after ${s.toFixed(0)} ms`);
    assert.ok(l >= 299 && l < 1000, `the 300 ms call failed after ${l.toFixed(0)} ms`);
    assert.ok(
      node.attempts.every((a) => a.cancelledWith instanceof TimeoutError),
      'the node was told to abandon both',
    );
  });

  test('a call answered in time is not failed later, and leaves no timer behind', async () => {
    const before = timers();
    const { svc } = make((n) => (n === 1 ? 20 : 5000));
    assert.equal(await svc.call('a', newCallContext('m', { timeout: 200 }, undefined)), 'reply 1');
    await assert.rejects(svc.call('b', newCallContext('m', { timeout: 50 }, undefined)), TimeoutError);
    await sleep(250); // past the first call's deadline: nothing fires for it
    assert.equal(timers(), before, 'no deadline timer (and the abandoned answer cancelled its own)');
  });

  test("timeouts beyond a timer's reach (or infinite) neither fire early nor spin a timer", async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(`${w.name}: ${w.message}`);
    };
    process.on('warning', onWarning);
    try {
      const { svc } = make(() => 30);
      // 2^33 ms goes into the list; 2^32 ms is due before it, so it takes a timer of its own.
      const calls = [2 ** 33, 2 ** 32, Infinity].map((timeout, i) => svc.call(`c${i}`, newCallContext('m', { timeout }, undefined)));
      assert.deepEqual(await Promise.all(calls), ['reply 1', 'reply 2', 'reply 3']);
      assert.equal(newCallContext('m', { timeout: Infinity }, undefined).expiresAt, undefined, 'an infinite timeout is no deadline');
      await sleep(20); // warnings are emitted on a later tick
      assert.deepEqual(warnings, []);
    } finally {
      process.off('warning', onWarning);
    }
  });
});
