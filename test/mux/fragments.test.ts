// Fragmentation on the write side: a message larger than the peer's mux-framer goes out in
// fragments interleaved with other messages, so small calls are not stuck behind a large one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { framerHeader, TINIT_CHECK_MESSAGE } from '../../src/protocols/mux/handshake.js';
import { MuxType } from '../../src/protocols/mux/types.js';
import { ThriftMux } from '../../src/protocols/thriftmux/index.js';
import { EchoService, echoHandler } from '../fixtures/echo-service.js';
import { frameOf, scriptedServer, tagOf, typeOf } from './raw-peer.js';

const sized = (m: Buffer): Buffer => Buffer.concat([Buffer.from([m.length >>> 24, (m.length >>> 16) & 0xff, (m.length >>> 8) & 0xff, m.length & 0xff]), m]);

test('on the wire: small calls written after a large one go out between its fragments', async () => {
  const order: string[] = [];
  const peer = await scriptedServer(async (socket, reader) => {
    assert.deepEqual(await reader.next(), TINIT_CHECK_MESSAGE);
    socket.write(sized(TINIT_CHECK_MESSAGE));
    await reader.next(); // Tinit
    socket.write(frameOf({ type: 'Rinit', tag: 1, version: 1, headers: [framerHeader(1024)] }));
    let smallSeen = 0;
    let bigDone = false;
    while (smallSeen < 5 || !bigDone) {
      const f = (await reader.next())!;
      if (typeOf(f) !== MuxType.Tdispatch) continue;
      assert.ok(f.length <= 1024, `frame of ${f.length} bytes within the framer`);
      const more = (f[1]! & 0x80) !== 0;
      const tag = tagOf(f) & 0x7fffff;
      if (tag === 2) {
        order.push(more ? 'big…' : 'big-end');
        if (!more) bigDone = true;
      } else {
        order.push(`small ${tag}`);
        smallSeen++;
      }
    }
    socket.destroy();
  });
  const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${peer.port}`, { retries: false, timeout: 2000 });
  const big = client.echo(1n, 0, 'x'.repeat(100_000)).catch(() => undefined);
  // Let the big call's first fragment go, then five small calls.
  await new Promise((r) => setImmediate(r));
  const small = Array.from({ length: 5 }, (_, i) => client.echo(BigInt(i), 0, 's').catch(() => undefined));
  await peer.done;
  await Promise.all([big, ...small]);
  const end = order.indexOf('big-end');
  const lastSmall = Math.max(...order.map((o, i) => (o.startsWith('small') ? i : -1)));
  assert.ok(lastSmall < end, `every small call went out before the large one's last fragment: ${order.filter((o, i) => i < 3 || o !== 'big…').join(' ')}`);
  assert.ok(order.filter((o) => o === 'big…').length >= 90, 'the large call was cut to the framer');
  await client.$close();
  peer.close();
});

test('our client and server, both with a 16 KiB framer: a 2 MiB call round-trips; small calls beside it finish first', async () => {
  const server = await ThriftMux.serve(EchoService, echoHandler, { framerSize: 16 * 1024, onError: false });
  const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { framerSize: 16 * 1024 });
  assert.deepEqual(await client.echo(0n, 0, 'warm'), { id: 0n, payload: 'warm' });
  const finished: string[] = [];
  const payload = 'y'.repeat(2 * 1024 * 1024);
  const big = client.echo(1n, 0, payload).then((r) => {
    finished.push('big');
    return r;
  });
  await new Promise((r) => setImmediate(r));
  const small = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      client.echo(BigInt(i + 10), 0, `s${i}`).then((r) => {
        finished.push('small');
        return r;
      }),
    ),
  );
  for (const [i, r] of small.entries()) assert.deepEqual(r, { id: BigInt(i + 10), payload: `s${i}` });
  const b = await big;
  assert.equal(b.payload.length, payload.length);
  assert.equal(b.payload, payload);
  assert.equal(finished.indexOf('big'), finished.length - 1, 'the small calls did not wait for the large one');
  await client.$close();
  await server.close();
});

test('10 MiB calls and replies under a 64 KiB framer: small calls beside them are not stuck behind them', { timeout: 120_000 }, async () => {
  const framerSize = 64 * 1024;
  const server = await ThriftMux.serve(EchoService, echoHandler, { framerSize, onError: false });
  const client = ThriftMux.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { framerSize, timeout: 60_000 });
  assert.deepEqual(await client.echo(0n, 0, 'warm'), { id: 0n, payload: 'warm' });
  const large = 'L'.repeat(10 * 1024 * 1024);
  const largeMs: number[] = [];
  const smallMs: number[] = [];
  let largeRunning = 0;
  let smallDuringLarge = 0;
  let going = true;
  const bigCaller = async (k: number): Promise<void> => {
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      largeRunning++;
      const r = await client.echo(BigInt(1000 + k * 10 + i), 0, large);
      largeRunning--;
      largeMs.push(performance.now() - t0);
      assert.equal(r.payload.length, large.length);
      assert.equal(r.id, BigInt(1000 + k * 10 + i));
    }
  };
  const smallCaller = async (k: number): Promise<void> => {
    for (let i = 0; going; i++) {
      const t0 = performance.now();
      const r = await client.echo(BigInt(k), 0, `s${k}.${i}`);
      smallMs.push(performance.now() - t0);
      if (largeRunning > 0) smallDuringLarge++;
      assert.deepEqual(r, { id: BigInt(k), payload: `s${k}.${i}` });
    }
  };
  const smalls = Array.from({ length: 10 }, (_, k) => smallCaller(k));
  await Promise.all([bigCaller(0), bigCaller(1)]);
  going = false;
  await Promise.all(smalls);
  smallMs.sort((a, b) => a - b);
  largeMs.sort((a, b) => a - b);
  const p99 = smallMs[Math.floor(smallMs.length * 0.99)]!;
  const largeMedian = largeMs[Math.floor(largeMs.length / 2)]!;
  console.log(
    `large: 6 × 10 MiB echoes, median ${largeMedian.toFixed(0)} ms; small: ${smallMs.length} calls (${smallDuringLarge} while a large one ran), p50 ${smallMs[Math.floor(smallMs.length / 2)]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`,
  );
  assert.ok(smallDuringLarge > 100, `small calls kept finishing while large ones ran (${smallDuringLarge})`);
  assert.ok(p99 < largeMedian / 2, `a small call's p99 (${p99.toFixed(1)} ms) is well under a large call's time (${largeMedian.toFixed(0)} ms)`);
  await client.$close();
  await server.close();
});
