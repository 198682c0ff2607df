// Push/Pull and Pub/Sub: one-way events through typed proxies, either side binding.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as zmq from 'zeromq';
import { eventDecoder, ZeroRpc } from '../../src/protocols/zerorpc/index.js';
import { until } from '../harness/wait.js';

interface Log {
  record(level: string, n: number): void;
}

describe('ZeroRPC push/pull', () => {
  it('events reach the puller in order, through a typed proxy', async () => {
    const got: [string, number][] = [];
    const failures: unknown[] = [];
    const pull = await ZeroRpc.puller({ record: (level: string, n: number) => void got.push([level, n]) }, { bind: 'tcp://127.0.0.1:*', onError: (e) => failures.push(e) });
    const push = await ZeroRpc.pusher<Log>({ connect: pull.endpoints[0]! });
    for (let i = 0; i < 500; i++) await push.record('info', i);
    await (push as unknown as { nosuch(n: number): Promise<void> }).nosuch(1);
    await until('500 events', () => got.length === 500 && failures.length === 1);
    assert.deepEqual(
      got.map(([, n]) => n),
      Array.from({ length: 500 }, (_, i) => i),
    );
    assert.equal(pull.counts.failed, 1, 'the unknown method is reported, not fatal');
    await push.$close();
    await pull.close();
  });

  it('the pusher may bind and the puller connect; events on the wire are zerorpc events', async () => {
    const push = await ZeroRpc.pusher<Log>({ bind: 'tcp://127.0.0.1:*' });
    const raw = new zmq.Pull({ linger: 0 });
    raw.connect(push.$endpoints[0]!);
    await push.record('warn', 7);
    const [payload] = await raw.receive();
    const ev = eventDecoder()(payload!);
    assert.equal(ev.name, 'record');
    assert.deepEqual(ev.args, ['warn', 7]);
    assert.equal(ev.header.v, 3);
    raw.close();
    await push.$close();
  });
});

describe('ZeroRPC pub/sub', () => {
  it('every subscriber gets every event published after it joined', async () => {
    const a: number[] = [];
    const b: number[] = [];
    const pub = await ZeroRpc.publisher<{ tick(n: number): void }>({ bind: 'tcp://127.0.0.1:*' });
    const subA = await ZeroRpc.subscriber({ tick: (n: number) => void a.push(n) }, { connect: pub.$endpoints[0]! });
    const subB = await ZeroRpc.subscriber({ tick: (n: number) => void b.push(n) }, { connect: pub.$endpoints[0]! });
    // The slow joiner: publish -1 until both subscribers hear it, then the real events.
    await until('both subscribers joined', () => {
      void pub.tick(-1);
      return a.includes(-1) && b.includes(-1);
    });
    for (let i = 0; i < 100; i++) await pub.tick(i);
    await until('100 events each', () => a.filter((n) => n >= 0).length === 100 && b.filter((n) => n >= 0).length === 100);
    assert.deepEqual(
      a.filter((n) => n >= 0),
      Array.from({ length: 100 }, (_, i) => i),
    );
    await pub.$close();
    await subA.close();
    await subB.close();
  });
});
