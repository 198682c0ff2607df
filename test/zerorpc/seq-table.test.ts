import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeqTable } from '../../src/protocols/zerorpc/seq-table.js';

describe('client channel table', () => {
  it('finds every open channel, also those its ring came round to (long streams)', () => {
    const t = new SeqTable<{ seq: number }>();
    const chs = Array.from({ length: 3000 }, (_, seq) => ({ seq }));
    for (const ch of chs) t.set(ch);
    assert.equal(t.size, 3000);
    for (const ch of chs) assert.equal(t.get(ch.seq), ch);
    assert.equal(t.get(3000), undefined);
    assert.equal(t.get(-1), undefined);
    for (const ch of chs.filter((c) => c.seq % 3 === 0)) assert.equal(t.delete(ch), true);
    assert.equal(t.delete(chs[0]!), false, 'twice');
    assert.equal(t.size, 2000);
    for (const ch of chs) assert.equal(t.get(ch.seq), ch.seq % 3 === 0 ? undefined : ch);
    assert.deepEqual(
      t
        .values()
        .map((c) => c.seq)
        .sort((a, b) => a - b),
      chs.filter((c) => c.seq % 3 !== 0).map((c) => c.seq),
    );
    for (const ch of chs) t.delete(ch);
    assert.equal(t.size, 0);
    assert.deepEqual(t.values(), []);
  });
});
