import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameBudgetError, InvalidArgumentError, type ScalesError } from '../../src/core/errors.js';
import { FrameBudget, type FrameBudgetHolder } from '../../src/transport/frame-budget.js';

/** A holder that gives its bytes back when evicted, as a Connection does when it closes. */
function holder(budget: FrameBudget, endpoint: string, evicted: string[]): FrameBudgetHolder {
  const h: FrameBudgetHolder = {
    endpoint,
    budgetCharge: 0,
    evict(err: ScalesError) {
      assert.ok(err instanceof FrameBudgetError && err.code === 'SCALES_ERR_OVERLOADED' && err.endpoint === endpoint);
      evicted.push(endpoint);
      budget.set(h, 0);
    },
  };
  return h;
}

test('charges follow the bytes held; over the limit the biggest holder goes, the oldest of equals first', () => {
  const budget = new FrameBudget(100);
  const evicted: string[] = [];
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((e) => holder(budget, e, evicted)) as [FrameBudgetHolder, FrameBudgetHolder, FrameBudgetHolder, FrameBudgetHolder];
  budget.set(a, 30);
  budget.set(b, 30);
  budget.set(c, 10);
  budget.set(a, 40); // grows
  budget.set(a, 5); // a message completed and a new one began
  assert.equal(budget.used, 45);
  assert.equal(budget.holding, 3);
  budget.set(c, 30);
  budget.set(d, 30); // 95
  assert.deepEqual(evicted, []);
  budget.set(d, 40); // 105: b and c hold 30 each, b began first; d is the asker and the biggest
  assert.deepEqual(evicted, ['d'], 'the asker goes when it is the biggest');
  budget.set(a, 45); // 105 again: a is now the biggest
  assert.deepEqual(evicted, ['d', 'a']);
  budget.set(c, 45); // 75
  assert.equal(budget.used, 75);
  budget.set(a, 30); // a new holder again: 105, c (45) goes
  assert.deepEqual(evicted, ['d', 'a', 'c']);
  assert.equal(budget.used, 60);
  assert.equal(budget.evictions, 3);
  assert.equal(budget.peak, 105, 'the peak is the limit plus the last charge');

  // Two equal holders, the later one asks: the older goes.
  budget.set(a, 0);
  budget.set(b, 0);
  budget.set(a, 50);
  budget.set(b, 50);
  budget.set(c, 1);
  assert.deepEqual(evicted.slice(3), ['a']);
});

test('lowering the limit evicts at once; a holder that does not give back is released by the budget', () => {
  const budget = new FrameBudget(1000);
  const evicted: string[] = [];
  const a = holder(budget, 'a', evicted);
  const stubborn: FrameBudgetHolder = { endpoint: 's', budgetCharge: 0, evict: () => evicted.push('s') };
  budget.set(a, 300);
  budget.set(stubborn, 600);
  budget.limit = 500;
  assert.deepEqual(evicted, ['s']);
  assert.equal(budget.used, 300);
  assert.equal(stubborn.budgetCharge, 0);
  assert.throws(() => (budget.limit = 0), InvalidArgumentError);
  assert.throws(() => new FrameBudget(Number.NaN), InvalidArgumentError);
});
