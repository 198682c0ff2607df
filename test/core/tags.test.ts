import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LowestTagAllocator, makeTags, TagAllocator } from '../../src/core/tags.js';

test('reuses the most recently freed tag and respects the limit', () => {
  const tags = new TagAllocator(1, 3);
  assert.deepEqual([tags.acquire(), tags.acquire(), tags.acquire()], [1, 2, 3]);
  assert.equal(tags.acquire(), -1, 'exhausted');
  assert.equal(tags.inUse, 3);
  tags.release(2);
  assert.equal(tags.acquire(), 2);
  tags.release(1);
  tags.release(3);
  assert.equal(tags.acquire(), 3);
  assert.equal(tags.inUse, 2);
});

test('smallest free first (Mux), checked against a plain scan over random acquire/release', () => {
  const tags = new LowestTagAllocator(2, 200);
  const held = new Set<number>();
  const smallestFree = (): number => {
    for (let t = 2; t <= 200; t++) if (!held.has(t)) return t;
    return -1;
  };
  let seed = 7;
  const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (let i = 0; i < 20_000; i++) {
    if (held.size > 0 && (held.size === 199 || rand(100) < 45)) {
      const all = [...held];
      const t = all[rand(all.length)]!;
      held.delete(t);
      tags.release(t);
    } else {
      const want = smallestFree();
      const got = tags.acquire();
      assert.equal(got, want, `step ${i}`);
      held.add(got);
    }
    assert.equal(tags.inUse, held.size);
  }
});

test('smallest free first: one call at a time reuses the first tag; exhaustion gives -1', () => {
  const tags = new LowestTagAllocator(2, 4);
  for (let i = 0; i < 3; i++) {
    assert.equal(tags.acquire(), 2);
    tags.release(2);
  }
  assert.deepEqual([tags.acquire(), tags.acquire(), tags.acquire(), tags.acquire()], [2, 3, 4, -1]);
  tags.release(3);
  assert.equal(tags.acquire(), 3);
});

test('makeTags caps the space at maxInUse and picks the order', () => {
  const lowest = makeTags({ first: 2, last: 0x7fffff, order: 'lowest' }, 2);
  assert.ok(lowest instanceof LowestTagAllocator);
  assert.deepEqual([lowest.acquire(), lowest.acquire(), lowest.acquire()], [2, 3, -1]);
  const recent = makeTags({ first: 1, last: 0x7fffffff, order: 'recent' }, 3);
  assert.ok(recent instanceof TagAllocator);
  assert.deepEqual([recent.acquire(), recent.acquire(), recent.acquire(), recent.acquire()], [1, 2, 3, -1]);
});
