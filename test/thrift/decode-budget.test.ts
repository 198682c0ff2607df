// The decode budget: a message may decode to at most limits.maxDecodeFactor heap bytes per byte
// of it (+ 8 MiB). Every container kind, both codecs, decoding and skipping; the server closes
// the connection that sent such a call, the client fails only the call whose reply it was; legit
// large messages still decode; and a server with a 1 GiB heap fed two 16 MiB worst-case frames at
// once stays alive and small.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BufferReader } from '../../src/core/bytes.js';
import { ProtocolError } from '../../src/core/errors.js';
import { binaryProtocol, compactProtocol, DecodeBudgetError, MessageType, Thrift, type ThriftServer } from '../../src/protocols/thrift/index.js';
import type { ClientControl } from '../../src/protocols/thrift/index.js';
import { startProcess } from '../harness/process.js';
import { countArgs, FIELDS, framedMessage, type HostileClient, HostileService, type HostileKind, hostileCall, hostileReply, hostileStruct, type ProtocolName, protocols } from './hostile-service.js';

const PROTOCOLS: ProtocolName[] = ['binary', 'compact'];
const KINDS: HostileKind[] = ['structs', 'maps', 'lists', 'bools', 'ints', 'blobs', 'strs', 'nums', 'longs', 'mapmaps', 'skipped'];

/**
 * Kinds whose elements cost more than 8 heap bytes per wire byte (the default factor) in each
 * protocol: these must be refused at the defaults. The others decode (e.g. binary list<bool>:
 * 1 byte → an 8-byte slot).
 */
const OVER_DEFAULT: Record<ProtocolName, HostileKind[]> = {
  binary: ['structs', 'maps', 'blobs', 'mapmaps', 'skipped'],
  compact: ['structs', 'maps', 'lists', 'blobs', 'strs', 'longs', 'mapmaps', 'skipped'],
};

const isBudgetError = (err: unknown): boolean => err instanceof DecodeBudgetError && err.code === 'SCALES_ERR_PROTOCOL';
const take = HostileService.methods['take']!;

describe('the decode budget in the codecs', () => {
  for (const p of PROTOCOLS) {
    const strict = p === 'binary' ? binaryProtocol({ limits: { maxDecodeFactor: 1, decodeBudgetBase: 0 } }) : compactProtocol({ limits: { maxDecodeFactor: 1, decodeBudgetBase: 0 } });
    test(`${p}: every container kind is charged (refused at maxDecodeFactor 1 with no base, decoding and skipping)`, () => {
      for (const kind of KINDS) {
        const body = hostileStruct(p, kind, 400_000);
        assert.throws(() => strict.readStruct(new BufferReader(body), take.args), isBudgetError, `${kind}: readStruct`);
        assert.throws(() => strict.skipStruct(new BufferReader(body)), isBudgetError, `${kind}: skipStruct`);
      }
    });

    test(`${p}: at the defaults, cheap elements decode and costly ones are refused`, () => {
      for (const kind of KINDS) {
        // Big enough that the 8 MiB every message gets on top of the factor does not cover it.
        const n = 2_000_000;
        const body = hostileStruct(p, kind, n);
        const decode = () => protocols[p].readStruct(new BufferReader(body), take.args) as Record<string, unknown>;
        if (OVER_DEFAULT[p].includes(kind)) {
          assert.throws(decode, isBudgetError, `${kind} is refused`);
        } else {
          const v = decode();
          const got = v[kind] as unknown[] | Set<unknown>;
          assert.equal(Array.isArray(got) ? got.length : (got as Set<unknown>).size, n, `${kind} decodes whole`);
        }
      }
    });

    test(`${p}: legit large messages decode (a 4 MiB binary, a list of 1M i32)`, () => {
      const blob = protocols[p].readStruct(new BufferReader(hostileStruct(p, 'blob', 4 * 1024 * 1024)), take.args) as { blob: Buffer };
      assert.equal(blob.blob.length, 4 * 1024 * 1024);
      const nums = protocols[p].readStruct(new BufferReader(hostileStruct(p, 'nums', 1_000_000)), take.args) as { nums: number[] };
      assert.equal(nums.nums.length, 1_000_000);
      assert.equal(nums.nums[999_999], 999_999);
    });

    test(`${p}: each message gets a fresh budget (a refused one does not poison the next)`, () => {
      assert.throws(() => protocols[p].readStruct(new BufferReader(hostileStruct(p, 'structs', 300_000)), take.args), isBudgetError);
      const ok = protocols[p].readStruct(new BufferReader(hostileStruct(p, 'structs', 1000)), take.args) as { structs: unknown[] };
      assert.equal(ok.structs.length, 1000);
    });
  }

  test('maxDecodeFactor is validated', () => {
    assert.throws(() => binaryProtocol({ limits: { maxDecodeFactor: -1 } }), /maxDecodeFactor/);
  });

  test('serve and newClient take decodeLimits (validated)', async () => {
    await assert.rejects(Thrift.serve(HostileService, { take: () => 0, give: () => ({}) }, { decodeLimits: { maxDecodeFactor: 1.5 } }), /maxDecodeFactor/);
    assert.throws(() => Thrift.newClient(HostileService, 'tcp://127.0.0.1:1', { decodeLimits: { maxDecodeFactor: -2 } }), /maxDecodeFactor/);
  });
});

/** Sends bytes on a fresh connection; resolves once the server closes it (or after `ms`). */
function sendRaw(port: number, bytes: Buffer, ms = 10_000): Promise<{ closed: boolean; received: number }> {
  return new Promise((resolve) => {
    let received = 0;
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ closed: false, received });
    }, ms);
    sock.on('data', (c) => {
      received += c.length;
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, received });
    });
  });
}

for (const p of PROTOCOLS) {
  describe(`${p} server: a call over its decode budget closes only its connection`, () => {
    let server: ThriftServer;
    const errors: unknown[] = [];
    let healthy: HostileClient & ClientControl;
    let background: Promise<number>;
    let stop = false;

    before(async () => {
      server = await Thrift.serve(HostileService, { take: countArgs, give: () => ({}) }, { protocol: p, onError: (err) => errors.push(err) });
      healthy = Thrift.newClient(HostileService, `tcp://127.0.0.1:${server.port}`, { protocol: p });
      background = (async () => {
        let n = 0;
        while (!stop) {
          assert.equal(await healthy.take([{}, {}], undefined, undefined, [true]), 3);
          n++;
        }
        return n;
      })();
    });

    after(async () => {
      stop = true;
      assert.ok((await background) > 5, 'the healthy client kept calling through every case');
      await healthy.$close();
      await server.close();
    });

    for (const kind of OVER_DEFAULT[p]) {
      test(kind, async () => {
        errors.length = 0;
        const r = await sendRaw(server.port, hostileCall(p, kind, 1_000_000));
        assert.ok(r.closed, 'the server closed the connection');
        assert.equal(r.received, 0, 'no reply');
        const err = errors.find((e) => e instanceof ProtocolError && isBudgetError(e.cause)) as ProtocolError | undefined;
        assert.ok(err, `onError saw the budget error: ${errors.map(String).join('; ')}`);
        assert.equal(err.code, 'SCALES_ERR_PROTOCOL');
      });
    }

    test('legit large calls are served: a 4 MiB binary, a list of 1M i32', async () => {
      const blob = Buffer.alloc(4 * 1024 * 1024, 7);
      assert.equal(await healthy.take(undefined, undefined, undefined, undefined, undefined, undefined, undefined, blob), blob.length);
      const nums = Array.from({ length: 1_000_000 }, (_, i) => i);
      assert.equal(await healthy.take(undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, nums), nums.length);
    });
  });

  describe(`${p} client: a reply over its decode budget fails only its call`, () => {
    let server: net.Server;
    let port: number;

    before(async () => {
      // A raw server: `give(kind)` is answered with a hostile Payload of FIELDS[kind] (1M
      // elements), or an empty Payload for kind -1.
      server = net.createServer((sock) => {
        let buf = Buffer.alloc(0);
        sock.on('error', () => undefined);
        sock.on('data', (chunk) => {
          buf = Buffer.concat([buf, chunk]);
          while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
            const msg = buf.subarray(4, 4 + buf.readUInt32BE(0));
            buf = buf.subarray(4 + msg.length);
            const r = new BufferReader(msg);
            const { seqid } = protocols[p].readMessageHeader(r);
            const { kind } = protocols[p].readStruct(r, HostileService.methods['give']!.args) as { kind: number };
            const reply =
              kind < 0
                ? framedMessage(p, 'give', MessageType.REPLY, seqid, Buffer.from(p === 'binary' ? [12, 0, 0, 0, 0] : [0x0c, 0, 0, 0]))
                : hostileReply(p, (FIELDS[kind]?.name ?? 'skipped') as HostileKind, 1_000_000, seqid);
            sock.write(reply);
          }
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as net.AddressInfo).port;
    });

    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test('each costly kind fails with the typed error while a call sharing the connection succeeds', async () => {
      const client = Thrift.newClient(HostileService, `tcp://127.0.0.1:${port}`, { protocol: p, poolSize: 1, timeout: 30_000 });
      try {
        for (const kind of OVER_DEFAULT[p]) {
          const index = kind === 'skipped' ? FIELDS.length : FIELDS.findIndex((f) => f.name === kind);
          const [bad, good] = await Promise.allSettled([client.give(index), client.give(-1)]);
          assert.equal(bad.status, 'rejected', `${kind}: the hostile reply fails its call`);
          assert.ok(isBudgetError((bad as PromiseRejectedResult).reason), `${kind}: ${String((bad as PromiseRejectedResult).reason)}`);
          assert.equal(good.status, 'fulfilled', `${kind}: the other call on the same connection succeeds`);
        }
      } finally {
        await client.$close();
      }
    });
  });
}

describe('buffered (unframed) transport: finding the end of a message is budgeted too', () => {
  for (const p of PROTOCOLS) {
    test(`${p}: an unframed call of 1M empty structs closes its connection with the typed error`, async () => {
      const errors: unknown[] = [];
      const server = await Thrift.serve(HostileService, { take: countArgs, give: () => ({}) }, { protocol: p, transport: 'buffered', onError: (err) => errors.push(err) });
      try {
        const r = await sendRaw(server.port, hostileCall(p, 'structs', 1_000_000).subarray(4));
        assert.ok(r.closed, 'the server closed the connection');
        assert.ok(
          errors.some((e) => isBudgetError(e) || (e instanceof ProtocolError && isBudgetError(e.cause))),
          errors.map(String).join('; '),
        );
        const client = Thrift.newClient(HostileService, `tcp://127.0.0.1:${server.port}`, { protocol: p, transport: 'buffered' });
        try {
          assert.equal(await client.take([{}, {}]), 2, 'other connections are served');
        } finally {
          await client.$close();
        }
      } finally {
        await server.close();
      }
    });
  }
});

describe('a server with a 1 GiB heap fed two 16 MiB worst-case frames at once', () => {
  const N = 16 * 1024 * 1024 - 64; // 1-byte elements filling a default-size frame
  for (const p of PROTOCOLS) {
    test(`${p}: stays up, peak RSS under 512 MB, both connections closed with the typed error`, async () => {
      const srv = await startProcess({
        cmd: process.execPath,
        args: ['--max-old-space-size=1024', '--import', 'tsx', 'test/thrift/hostile-server.ts', p, '0'],
        ready: /^port (\d+)/,
        timeoutMs: 30_000,
      });
      try {
        const port = Number(srv.readyMatch![1]);
        const frame = hostileCall(p, 'structs', N);
        const results = await Promise.all([sendRaw(port, frame, 60_000), sendRaw(port, frame, 60_000)]);
        assert.deepEqual(
          results.map((r) => r.closed),
          [true, true],
        );
        const peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${srv.pid}/status`, 'utf8'))![1]);
        assert.ok(peakKb < 512 * 1024, `peak RSS ${Math.round(peakKb / 1024)} MB`);
        const reported = () => (srv.output().match(/more than its budget/g) ?? []).length;
        for (let i = 0; i < 100 && reported() < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(reported(), 2, srv.tail(5));
        // Still serving.
        const client = Thrift.newClient(HostileService, `tcp://127.0.0.1:${port}`, { protocol: p });
        try {
          assert.equal(await client.take([{}]), 1);
        } finally {
          await client.$close();
        }
      } finally {
        await srv.stop();
      }
    });
  }

  test('binary: two frames that fit the budget, held by the handler at once, stay under 512 MB', async () => {
    // list<bool>: 8 heap bytes per wire byte, the most the default budget lets through for 1-byte elements.
    const srv = await startProcess({
      cmd: process.execPath,
      args: ['--max-old-space-size=1024', '--import', 'tsx', 'test/thrift/hostile-server.ts', 'binary', '500'],
      ready: /^port (\d+)/,
      timeoutMs: 30_000,
    });
    try {
      const port = Number(srv.readyMatch![1]);
      const client = Thrift.newClient(HostileService, `tcp://127.0.0.1:${port}`, { poolSize: 2, timeout: 60_000 });
      try {
        const frame = hostileCall('binary', 'bools', N);
        const replies = await Promise.all([sendRawForReply(port, frame), sendRawForReply(port, frame)]);
        assert.deepEqual(replies, [true, true], 'both calls were answered');
        const peakKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${srv.pid}/status`, 'utf8'))![1]);
        assert.ok(peakKb < 512 * 1024, `peak RSS ${Math.round(peakKb / 1024)} MB`);
        assert.equal(await client.take([{}]), 1);
      } finally {
        await client.$close();
      }
    } finally {
      await srv.stop();
    }
  });
});

/** Sends one framed call; resolves true once a whole framed reply is back (false after 60 s). */
function sendRawForReply(port: number, bytes: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const sock = net.connect(port, '127.0.0.1', () => sock.write(bytes));
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 60_000);
    sock.on('data', (c) => {
      got = Buffer.concat([got, c]);
      if (got.length >= 4 && got.length >= 4 + got.readUInt32BE(0)) done(true);
    });
    sock.on('error', () => done(false));
    sock.on('close', () => done(false));
  });
}
