// zerorpc-python's recorded conversations replayed byte for byte against our server (a raw
// DEALER sends the recorded request frames) and against our client (a raw ROUTER answers as the
// recorded Python server did). Message ids differ per run; everything else must match, down to
// the msgpack type of `response_to`.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as zmq from 'zeromq';
import { encodeEvent, eventDecoder, idKey, method, NamedError, RemoteError, ZeroRpc, type EventHeader, type ZeroEvent, type ZeroServer, type ZeroStream } from '../../src/protocols/zerorpc/index.js';
import { fromNotation, loadConversations, type Conversation } from './vectors.js';

const decode = eventDecoder();

/** The recorded Python `Calc`, in JavaScript (slow(s) waits s × 100 ms here, to keep tests short). */
class Calc {
  add = method((a: number, b = 2) => a + b, { doc: 'Add two numbers.' });
  boom(): never {
    throw new NamedError('ValueError', 'bad thing');
  }
  count = method(
    async function* (n: number) {
      for (let i = 0; i < n; i++) yield i;
    },
    { doc: 'Yield 0..n-1.' },
  );
  echo(x: unknown): unknown {
    return x;
  }
  async slow(s: number): Promise<string> {
    await new Promise((r) => setTimeout(r, s * 100));
    return 'done';
  }
}

/** Python reports `self` first in argument lists; a Node server leaves it out. */
function withoutSelf(v: unknown): unknown {
  if (Array.isArray(v)) {
    const list = v.filter((x) => !(x === 'self' || (x !== null && typeof x === 'object' && (x as { name?: unknown }).name === 'self' && Object.keys(x).length === 1)));
    return list.map(withoutSelf);
  }
  if (v !== null && typeof v === 'object' && !(v instanceof Uint8Array)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withoutSelf(x)]));
  return v;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

async function receive(sock: zmq.Dealer | zmq.Router, ms = 5000): Promise<Buffer[]> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no message in ${ms} ms`)), ms)));
  try {
    return await Promise.race([sock.receive(), t]);
  } finally {
    clearTimeout(timer);
  }
}

describe("zerorpc-python's client requests, replayed against our server", () => {
  let server: ZeroServer;
  let dealer: zmq.Dealer;
  before(async () => {
    server = await ZeroRpc.serve(new Calc(), { bind: 'tcp://127.0.0.1:*', heartbeat: 200, quiet: true });
    dealer = new zmq.Dealer({ linger: 0 });
    dealer.connect(server.endpoints[0]!);
  });
  after(async () => {
    dealer.close();
    await server.close(100);
  });

  for (const conv of loadConversations('python-server.json')) {
    it(conv.scenario, async () => {
      const request = conv.frames[0]!;
      const requestId = (fromNotation(request.decoded) as [EventHeader])[0].message_id;
      let sawHeartbeat = false;
      for (const frame of conv.frames) {
        if (frame.dir === 'client->server') {
          await dealer.send([Buffer.alloc(0), Buffer.from(frame.payload_hex, 'hex')]);
          continue;
        }
        const [, expectedName, expectedArgs] = fromNotation(frame.decoded) as [EventHeader, string, unknown];
        let got: ZeroEvent;
        for (;;) {
          const frames = await receive(dealer);
          assert.equal(frames[0]!.length, 0, 'the envelope is one empty frame');
          got = decode(frames[frames.length - 1]!);
          if (got.name === '_zpc_hb') {
            // Heartbeat back, as a live peer does: the server drops a silent peer's calls.
            sawHeartbeat = true;
            await dealer.send([Buffer.alloc(0), Buffer.from(encodeEvent({ message_id: Buffer.from('0'.repeat(32)), v: 3, response_to: requestId }, '_zpc_hb', [0]))]);
            if (expectedName !== '_zpc_hb') continue;
          }
          break;
        }
        assert.equal(got.name, expectedName, `${conv.scenario}: event name`);
        // response_to echoes the request's id with its msgpack type (bin here, as Python sent).
        assert.ok(got.header.response_to instanceof Uint8Array, 'response_to is bin, as the request id was');
        assert.equal(hex(got.header.response_to), hex(requestId as Uint8Array));
        assert.equal(got.header.v, 3);
        assert.ok(got.header.message_id instanceof Uint8Array && got.header.message_id.length === 32);
        assert.deepEqual(Object.keys(got.header).sort(), ['message_id', 'response_to', 'v']);
        if (expectedName === 'ERR') {
          const [name, message] = expectedArgs as string[];
          const [gotName, gotMessage, tb] = got.args as string[];
          assert.equal(gotName, name);
          assert.equal(gotMessage, message);
          assert.equal(typeof tb, 'string');
        } else {
          assert.deepEqual(got.args, withoutSelf(expectedArgs), `${conv.scenario}: ${expectedName} args`);
        }
      }
      if (conv.scenario === 'heartbeat') assert.ok(sawHeartbeat, 'the server heartbeats the channel of a long call');
    });
  }
});

describe("our client against zerorpc-python's recorded server answers", () => {
  let router: zmq.Router;
  let endpoint: string;
  before(async () => {
    router = new zmq.Router({ linger: 0 });
    await router.bind('tcp://127.0.0.1:*');
    endpoint = router.lastEndpoint!;
  });
  after(() => router.close());

  /** Plays the server side of `conv`: checks each request, answers with the recorded events. */
  async function playServer(conv: Conversation, onRequest?: (ev: ZeroEvent) => void): Promise<ZeroEvent[]> {
    const seen: ZeroEvent[] = [];
    let identity: Buffer | undefined;
    let channel: Uint8Array | string | undefined;
    for (const frame of conv.frames) {
      const [header, name, args] = fromNotation(frame.decoded) as [EventHeader, string, unknown];
      if (frame.dir === 'client->server') {
        for (;;) {
          const frames = await receive(router, 10_000);
          identity = frames[0]!;
          assert.equal(frames.length, 3, 'the client sends [empty, payload]');
          assert.equal(frames[1]!.length, 0);
          const ev = decode(frames[2]!);
          seen.push(ev);
          if (ev.name === '_zpc_hb' && name !== '_zpc_hb') continue;
          assert.equal(ev.name, name);
          assert.deepEqual(ev.args, args);
          if (channel === undefined) {
            channel = ev.header.message_id;
            assert.ok(channel instanceof Uint8Array && channel.length === 32, 'ids are 32 bytes of bin, as Python sends');
            onRequest?.(ev);
          } else assert.equal(idKey(ev.header.response_to!), idKey(channel));
          assert.equal(ev.header.v, 3);
          break;
        }
      } else {
        const h = { ...header, response_to: channel! };
        await router.send([identity!, Buffer.alloc(0), Buffer.from(encodeEvent(h, name, args))]);
      }
    }
    return seen;
  }

  const conversations = new Map(loadConversations('python-client.json').map((c) => [c.scenario, c]));

  it('client_call', async () => {
    const client = ZeroRpc.newClient(endpoint, { heartbeat: false });
    const [result] = await Promise.all([client.add(1, 2), playServer(conversations.get('client_call')!)]);
    assert.equal(result, 3);
    await client.$close();
  });

  it('client_remote_error', async () => {
    const client = ZeroRpc.newClient(endpoint, { heartbeat: false });
    const [outcome] = await Promise.all([
      client.boom().then(
        () => 'no error',
        (e: unknown) => e,
      ),
      playServer(conversations.get('client_remote_error')!),
    ]);
    assert.ok(outcome instanceof RemoteError);
    assert.equal(outcome.remoteName, 'ValueError');
    assert.equal(outcome.remoteMessage, 'bad thing');
    assert.match(outcome.remoteTraceback, /^Traceback/);
    assert.equal(outcome.code, 'SCALES_ERR_APPLICATION');
    await client.$close();
  });

  it('client_stream: the credit is granted as Python grants it', async () => {
    const client = ZeroRpc.newClient(endpoint, { heartbeat: false });
    const consume = async () => (await (client.count(3) as Promise<ZeroStream<number>>)).toArray();
    const [items, seen] = await Promise.all([consume(), playServer(conversations.get('client_stream')!)]);
    assert.deepEqual(items, [0, 1, 2]);
    assert.deepEqual(
      seen.map((e) => [e.name, e.args]),
      [
        ['count', [3]],
        ['_zpc_more', [100]],
      ],
    );
    await client.$close();
  });

  it('client_heartbeat: the client heartbeats a channel the server keeps silent', async () => {
    const conv = conversations.get('client_heartbeat')!;
    const client = ZeroRpc.newClient(endpoint, { heartbeat: 300 });
    const started = performance.now();
    const [result, seen] = await Promise.all([client.slow(7), playServer(conv)]);
    assert.equal(result, 'late');
    const hb = seen.filter((e) => e.name === '_zpc_hb');
    assert.ok(hb.length >= 1, 'at least one heartbeat');
    assert.deepEqual(hb[0]!.args, [0]);
    assert.ok(performance.now() - started >= 250);
    await client.$close();
  });
});
