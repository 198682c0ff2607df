import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChannelKeys } from '../../src/protocols/zerorpc/channel-keys.js';
import { MessageIds } from '../../src/protocols/zerorpc/events.js';

describe('server channel keys', () => {
  it('one key per (peer, id): numbers for hex-shaped ids of the peer, strings for the rest, str apart from bin', () => {
    const keys = new ChannelKeys();
    const a = keys.peer(Buffer.from([0, 0, 0, 0, 1]));
    const b = keys.peer(Buffer.from([0, 0, 0, 0, 2]));
    const ids = new MessageIds();
    const other = new MessageIds();
    const id0 = ids.next();
    const id1 = ids.next();
    const foreign = other.next(); // same shape, another tail
    const k0 = keys.key(a, id0);
    assert.equal(typeof k0, 'number');
    assert.equal(keys.key(a, Buffer.from(id0)), k0, 'the same bytes, another buffer');
    assert.notEqual(keys.key(a, id1), k0);
    assert.notEqual(keys.key(b, id0), k0, 'another peer');
    assert.equal(typeof keys.key(a, foreign), 'string');
    assert.equal(keys.key(a, foreign), keys.key(a, Buffer.from(foreign)));
    const text = id0.toString('latin1');
    assert.notEqual(keys.key(a, text), k0, 'a str id is another channel than the bin one');
    assert.notEqual(keys.key(a, Buffer.from(text.toUpperCase(), 'latin1')), k0);
    // The same identity in a new buffer (the zeromq binding's frames) is the same peer.
    assert.equal(keys.peer(Buffer.from([0, 0, 0, 0, 1])), a);
  });
  it('forgets idle peers only, past 1024 of them', () => {
    const keys = new ChannelKeys();
    const busy = keys.peer(Buffer.from('busy'));
    busy.open = 1;
    const k = keys.key(busy, new MessageIds().next());
    for (let i = 0; i < 3000; i++) keys.peer(Buffer.from(`idle${i}`));
    const again = keys.peer(Buffer.from('busy'));
    assert.equal(again, busy, 'a peer with open channels is kept');
    assert.equal(typeof k, 'number');
  });
});
