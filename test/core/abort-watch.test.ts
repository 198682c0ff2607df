// One 'abort' listener per signal however many watch it (core/abort-watch.ts): pure logic.
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { unwatchAbort, watchAbort, type AbortWatcher } from '../../src/core/abort-watch.js';

const watcher = (log: string[], name: string): AbortWatcher => ({ aborted: (reason) => log.push(`${name}:${String(reason)}`) });

describe('watchAbort', () => {
  test('many watchers, one listener; each told once, in order, with the reason', () => {
    const ac = new AbortController();
    const log: string[] = [];
    const ws = Array.from({ length: 20 }, (_, i) => watcher(log, `w${i}`));
    for (const w of ws) watchAbort(ac.signal, w);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    ac.abort('gone');
    ac.abort('again');
    assert.deepEqual(
      log,
      ws.map((_, i) => `w${i}:gone`),
    );
  });

  test('a removed watcher is not told; the last one gone takes the listener with it', () => {
    const ac = new AbortController();
    const log: string[] = [];
    const a = watcher(log, 'a');
    const b = watcher(log, 'b');
    const c = watcher(log, 'c');
    watchAbort(ac.signal, a);
    watchAbort(ac.signal, b);
    watchAbort(ac.signal, c);
    unwatchAbort(ac.signal, b);
    unwatchAbort(ac.signal, a);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1, 'c still watches');
    unwatchAbort(ac.signal, c);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    unwatchAbort(ac.signal, c); // twice: a no-op
    watchAbort(ac.signal, b); // watching again after it was emptied
    ac.abort('x');
    assert.deepEqual(log, ['b:x']);
  });

  test('a watcher may remove another while they are being told', () => {
    const ac = new AbortController();
    const log: string[] = [];
    const later = watcher(log, 'later');
    const first: AbortWatcher = {
      aborted: (r) => {
        log.push(`first:${String(r)}`);
        unwatchAbort(ac.signal, later);
      },
    };
    watchAbort(ac.signal, first);
    watchAbort(ac.signal, watcher(log, 'second'));
    watchAbort(ac.signal, later);
    ac.abort('r');
    assert.deepEqual(log, ['first:r', 'second:r']);
  });

  test('a signal that takes no new property is watched too (its watchers kept aside)', () => {
    const ac = new AbortController();
    Object.preventExtensions(ac.signal);
    const log: string[] = [];
    const a = watcher(log, 'a');
    watchAbort(ac.signal, a);
    watchAbort(ac.signal, watcher(log, 'b'));
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    unwatchAbort(ac.signal, a);
    ac.abort('f');
    assert.deepEqual(log, ['b:f']);
  });
});
