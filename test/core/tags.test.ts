import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TagAllocator } from '../../src/core/tags.js';

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
