// Bad input to a ZeroRPC server from a raw DEALER: each is dropped (or answered) with a typed
// error reported, memory stays bounded, and a well-behaved client is served throughout.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as zmq from 'zeromq';
import { ProtocolError, type ScalesError } from '../../src/core/errors.js';
import { encodeEvent, eventDecoder, stream, ZeroRpc, type UntypedZeroClient, type ZeroServer } from '../../src/protocols/zerorpc/index.js';
import { sleep } from '../harness/wait.js';

const decode = eventDecoder();
const EMPTY = Buffer.alloc(0);

describe('ZeroRPC server: hostile input', () => {
  let server: ZeroServer;
  const reported: unknown[] = [];
  let produced = 0;
  let raw: zmq.Dealer;
  let client: UntypedZeroClient;
  before(async () => {
    server = await ZeroRpc.serve(
      {
        add: (a: number, b: number) => a + b,
        numbers: stream(async function* () {
          for (let i = 0; i < 1_000_000; i++) {
            produced++;
            yield i;
          }
        }),
      },
      { bind: 'tcp://127.0.0.1:*', heartbeat: 100, maxMessageSize: 64 * 1024, onError: (err) => reported.push(err) },
    );
    raw = new zmq.Dealer({ linger: 0 });
    raw.connect(server.endpoints[0]!);
    client = ZeroRpc.newClient(server.endpoints[0]!, { heartbeat: 100, timeout: 2000 });
  });
  after(async () => {
    raw.close();
    await client.$close();
    await server.close(100);
  });

  async function stillServing(): Promise<void> {
    assert.equal(await client.add(20, 22), 42);
  }

  async function sendRaw(frames: Buffer[]): Promise<void> {
    const before = server.counts.dropped;
    await raw.send(frames);
    for (let i = 0; i < 100 && server.counts.dropped === before; i++) await sleep(10);
    assert.equal(server.counts.dropped, before + 1, 'the message was dropped and counted');
    await stillServing();
  }

  it('garbage bytes, truncated msgpack, a huge claimed length: dropped with a ProtocolError', async () => {
    reported.length = 0;
    await sendRaw([EMPTY, Buffer.from('hello, not msgpack')]);
    await sendRaw([EMPTY, Buffer.from('93', 'hex')]);
    await sendRaw([EMPTY, Buffer.from('ddffffffff00', 'hex')]); // an array of 2^32-1 elements in 6 bytes
    await sendRaw([EMPTY, Buffer.from('93dbffffff00', 'hex')]); // a str of 4 GiB
    assert.equal(reported.length, 4);
    assert.ok(reported.every((e) => e instanceof ProtocolError));
  });

  it('wrong types in the header or the name', async () => {
    await sendRaw([EMPTY, Buffer.from(encodeEvent({ message_id: 5 as unknown as string, v: 3 }, 'add', [1, 2]))]);
    await sendRaw([EMPTY, Buffer.from(encodeEvent({ message_id: 'x', v: 'three' as unknown as number }, 'add', [1, 2]))]);
    await sendRaw([EMPTY, Buffer.from(encodeEvent({ message_id: 'x', v: 3 }, 7 as unknown as string, [1, 2]))]);
    await sendRaw([EMPTY, Buffer.from(new Uint8Array([0x93, 0x90, 0xa3, 0x61, 0x64, 0x64, 0x90]))]); // header is a list
  });

  it('events for channels that do not exist are dropped', async () => {
    await sendRaw([EMPTY, Buffer.from(encodeEvent({ message_id: 'a', v: 3, response_to: 'nope' }, 'STREAM', [100]))]);
    await sendRaw([EMPTY, Buffer.from(encodeEvent({ message_id: 'b', v: 3, response_to: Buffer.from('nope') }, 'OK', [1]))]);
  });

  it('arguments that are not a list are answered with TypeError', async () => {
    await raw.send([EMPTY, Buffer.from(encodeEvent({ message_id: 'id1', v: 3 }, 'add', 'x'))]);
    const ev = decode((await raw.receive()).at(-1)!);
    assert.equal(ev.name, 'ERR');
    assert.equal((ev.args as string[])[0], 'TypeError');
    assert.equal(ev.header.response_to, 'id1', 'a str id is echoed as str');
    await stillServing();
  });

  it('a message over the size limit: ZeroMQ drops that peer, others are served', async () => {
    const big = new zmq.Dealer({ linger: 0 });
    big.connect(server.endpoints[0]!);
    await big.send([EMPTY, Buffer.from(encodeEvent({ message_id: 'big', v: 3 }, 'add', [Buffer.alloc(200_000), 1]))]);
    await sleep(100);
    await stillServing();
    big.close();
  });

  it('a stream that is never granted credit: the server holds at one item, memory bounded, and loses the peer when it goes silent', async () => {
    produced = 0;
    const lost = server.counts.lost;
    await raw.send([EMPTY, Buffer.from(encodeEvent({ message_id: 'greedy', v: 3 }, 'numbers', []))]);
    const ev = decode((await raw.receive()).at(-1)!);
    assert.equal(ev.name, 'STREAM');
    await sleep(300);
    assert.ok(produced <= 2, `produced ${produced} items without credit`);
    await stillServing();
    // The raw peer never heartbeats: the channel is lost, the generator stopped.
    for (let i = 0; i < 100 && server.counts.lost === lost; i++) await sleep(10);
    assert.ok(server.counts.lost > lost);
  });

  it('a flood of requests from a peer that never reads its answers leaves the server serving others', async () => {
    const flood = new zmq.Dealer({ linger: 0, sendHighWaterMark: 100_000 });
    flood.connect(server.endpoints[0]!);
    for (let i = 0; i < 5000; i++) await flood.send([EMPTY, Buffer.from(encodeEvent({ message_id: `f${i}`, v: 3 }, 'add', [i, 1]))]);
    await stillServing();
    flood.close();
  });

  it('the errors reported are typed', () => {
    assert.ok(reported.length > 0);
    for (const e of reported) assert.equal(typeof (e as ScalesError).code, 'string');
  });
});

describe('ZeroRPC server: bounded channels', () => {
  it('more open channels than maxChannels are refused with OverloadedError, and served again once they close', async () => {
    const server = await ZeroRpc.serve({ wait: (ms: number) => sleep(ms).then(() => 'ok') }, { bind: 'tcp://127.0.0.1:*', maxChannels: 3, quiet: true });
    const c = ZeroRpc.newClient(server.endpoints[0]!, { retries: false });
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => c.wait(200).then(String, (e: { remoteName?: string }) => e.remoteName)));
    assert.deepEqual(outcomes.sort(), ['OverloadedError', 'OverloadedError', 'ok', 'ok', 'ok']);
    assert.equal(await c.wait(1), 'ok');
    await c.$close();
    await server.close(100);
  });
});
