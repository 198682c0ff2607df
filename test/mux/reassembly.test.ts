// The reassembly budget: bytes held in unfinished fragmented messages, shared by sessions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OverloadedError } from '../../src/core/errors.js';
import { Reassembler, ReassemblyBudget } from '../../src/protocols/mux/fragments.js';

/** A Tdispatch fragment (more to come unless `last`) of `n` body bytes on `tag`. */
const piece = (tag: number, n: number, last = false): Buffer => Buffer.concat([Buffer.from([0x02, (last ? 0 : 0x80) | (tag >> 16), (tag >> 8) & 0xff, tag & 0xff]), Buffer.alloc(n, tag)]);

test('pieces count against the shared budget until their message completes or is dropped', () => {
  const budget = new ReassemblyBudget(1000);
  const a = new Reassembler(10_000, 64, budget);
  const b = new Reassembler(10_000, 64, budget);
  assert.equal(a.accept(piece(2, 300)), undefined);
  assert.equal(b.accept(piece(3, 300)), undefined);
  assert.equal(budget.used, 600);
  const whole = a.accept(piece(2, 100, true))!;
  assert.equal(whole.length, 4 + 400);
  assert.equal(budget.used, 300, 'a completed message gives its bytes back');
  b.drop(3);
  assert.equal(budget.used, 0, 'a dropped one too');
  assert.equal(b.bytes, 0);
});

test('past the budget the session adding pieces is refused; a dead session’s bytes come back first', () => {
  const budget = new ReassemblyBudget(1000);
  let aDead = false;
  const a = new Reassembler(10_000, 64, budget, () => aDead);
  const b = new Reassembler(10_000, 64, budget);
  a.accept(piece(2, 700));
  assert.throws(() => b.accept(piece(2, 400)), OverloadedError);
  aDead = true;
  const c = new Reassembler(10_000, 64, budget);
  assert.equal(c.accept(piece(5, 500)), undefined, 'room again once the dead session gave back');
  assert.equal(a.bytes, 0);
});

test('a small piece of a big read buffer is copied, so the big buffer is not kept', () => {
  const r = new Reassembler(10_000, 64);
  const read = Buffer.alloc(64 * 1024);
  piece(2, 10).copy(read, 100);
  r.accept(read.subarray(100, 114));
  read.fill(0xee);
  const whole = r.accept(piece(2, 0, true))!;
  assert.deepEqual([...whole.subarray(4)], Array(10).fill(2), 'the held piece is a copy');
});
