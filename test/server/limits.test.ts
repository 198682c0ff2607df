// The server's limits over real sockets, framed and buffered (unframed): the connection cap, the
// idle timeout, the read timeout (slowloris), the budget for partly received messages, and the
// buffered transport's cost when a big message trickles in. Limits are short here so each case
// takes seconds; a legitimate client keeps calling through every attack and must never fail.
import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { BufferWriter } from '../../src/core/bytes.js';
import { FrameBudgetError, InvalidArgumentError, OverloadedError, ReadTimeoutError } from '../../src/core/errors.js';
import { binaryProtocol, MessageType, T, Thrift, type ClientControl, type StructDesc, type ThriftServer, type ThriftServerOptions } from '../../src/protocols/thrift/index.js';
import { FrameBudget } from '../../src/transport/frame-budget.js';
import { Gates, GateService, type GateClient } from './gate-service.js';
import { sleep, until } from '../harness/wait.js';

type Transport = 'framed' | 'buffered';
const TRANSPORTS: Transport[] = ['framed', 'buffered'];
const KiB = 1024;
const MiB = 1024 * KiB;
const binary = binaryProtocol();

let servers: ThriftServer[] = [];
let clients: (GateClient & ClientControl)[] = [];
let sockets: net.Socket[] = [];
let gates: Gates;
const errors: { err: unknown; where: string }[] = [];

async function start(transport: Transport, options: ThriftServerOptions = {}): Promise<ThriftServer> {
  gates = new Gates();
  const s = await Thrift.serve(GateService, gates.handler(), { transport, onError: (err, where) => errors.push({ err, where }), ...options });
  servers.push(s);
  return s;
}

/** A well-behaved client on one connection (poolSize 1: its connection count is known). */
function client(server: ThriftServer, transport: Transport): GateClient & ClientControl {
  const c = Thrift.newClient(GateService, `tcp://127.0.0.1:${server.port}`, { timeout: 5000, retries: false, transport, poolSize: 1 });
  clients.push(c);
  return c;
}

/** The bytes of a call on the wire: with the u32 prefix when framed, without when buffered. */
function wire(transport: Transport, desc: StructDesc, args: Record<string, unknown>, seqid = 1): Buffer {
  const w = new BufferWriter(256);
  binary.writeMessageHeader(w, 'echo', MessageType.CALL, seqid);
  binary.writeStruct(w, desc, args);
  const body = w.takeCopy();
  if (transport === 'buffered') return body;
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

const EchoArgs: StructDesc = { name: 'echo_args', kind: 'struct', fields: [{ id: 1, name: 's', type: T.string, requiredness: 'default' }] };
/** echo's arguments plus a field echo does not know (skipped when decoded): a big list of short strings, the costliest shape to measure. */
const PaddedEchoArgs: StructDesc = { ...EchoArgs, fields: [...EchoArgs.fields, { id: 2, name: 'pad', type: T.list(T.string), requiredness: 'default' }] };

const echoCall = (transport: Transport, s: string, seqid = 1) => wire(transport, EchoArgs, { s }, seqid);

interface Raw {
  sock: net.Socket;
  closed: Promise<number>;
  isClosed(): boolean;
  received(): Buffer;
}

/** A raw connection; `closed` resolves with the ms from connect to close. */
async function raw(port: number): Promise<Raw> {
  const sock = net.connect(port, '127.0.0.1');
  sockets.push(sock);
  sock.on('error', () => undefined);
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  let done = false;
  await new Promise((r) => sock.once('connect', r));
  const started = performance.now();
  const closed = new Promise<number>((resolve) => sock.once('close', () => ((done = true), resolve(performance.now() - started))));
  return { sock, closed, isClosed: () => done, received: () => Buffer.concat(chunks) };
}

/** Calls echo every `everyMs` until stopped; resolves with the number of calls, rejects at the first failure. */
function keepCalling(c: GateClient, everyMs: number): { stop(): Promise<number> } {
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const s = `legit ${n}`;
      assert.equal(await c.echo(s), s);
      n++;
      await sleep(everyMs);
    }
    return n;
  })();
  loop.catch(() => undefined);
  return {
    stop: async () => {
      running = false;
      return loop;
    },
  };
}

function counters(server: ThriftServer): Record<string, number> {
  return server.stats.snapshot().scopes['server=Gate']?.counters ?? {};
}

const reported = (cls: abstract new (...a: never[]) => unknown) => errors.filter((e) => e.err instanceof cls);

afterEach(async () => {
  gates?.releaseAll();
  for (const s of sockets) s.destroy();
  for (const c of clients) await c.$close();
  for (const s of servers) await s.close(200);
  servers = [];
  clients = [];
  sockets = [];
  errors.length = 0;
});

describe('limit options', () => {
  test('bad values are refused before listening; Infinity turns a limit off', async () => {
    for (const bad of [0, -1, Number.NaN, 2 ** 31]) {
      await assert.rejects(Thrift.serve(GateService, new Gates().handler(), { frameTimeoutMs: bad }), InvalidArgumentError, `frameTimeoutMs ${bad}`);
      await assert.rejects(Thrift.serve(GateService, new Gates().handler(), { idleTimeoutMs: bad }), InvalidArgumentError, `idleTimeoutMs ${bad}`);
    }
    await assert.rejects(Thrift.serve(GateService, new Gates().handler(), { maxConnections: 2.5 }), InvalidArgumentError);
    assert.throws(() => new FrameBudget(0), InvalidArgumentError);
    const s = await start('framed', { maxConnections: Infinity, idleTimeoutMs: Infinity, frameTimeoutMs: Infinity });
    assert.equal(await client(s, 'framed').echo('on'), 'on');
  });
});

for (const transport of TRANSPORTS) {
  describe(`${transport}: connection cap`, () => {
    test('past maxConnections a new connection is closed at once while the others keep working; reported once, counted each time', async () => {
      const s = await start(transport, { maxConnections: 3 });
      const held = [client(s, transport), client(s, transport), client(s, transport)];
      for (const [i, c] of held.entries()) assert.equal(await c.echo(`c${i}`), `c${i}`);
      assert.equal(s.connections, 3);

      const refused = await raw(s.port);
      refused.sock.write(echoCall(transport, 'refused'));
      const ms = await Promise.race([refused.closed, sleep(2000).then(() => -1)]);
      assert.ok(ms >= 0, 'the connection past the cap was closed');
      assert.equal(refused.received().length, 0, 'and never answered');
      for (let i = 0; i < 3; i++) {
        const more = await raw(s.port);
        await more.closed;
      }
      for (const [i, c] of held.entries()) assert.equal(await c.echo(`again ${i}`), `again ${i}`, 'the connections under the cap still work');
      assert.equal(counters(s)['connections_refused'], 4);
      const reports = reported(OverloadedError);
      assert.equal(reports.length, 1, 'one report for a run of refusals');
      assert.match(String((reports[0]!.err as Error).message), /3 connections open \(maxConnections\)/);
      assert.equal(s.stats.snapshot().scopes['server=Gate']?.gauges['connections'], 3);

      // A freed place is taken again.
      await held[0]!.$close();
      await until('the server to see the close', () => s.connections === 2);
      assert.equal(await client(s, transport).echo('fourth'), 'fourth');
    });
  });

  describe(`${transport}: idle timeout`, () => {
    test('a connection with nothing in flight that sends nothing is closed after idleTimeoutMs; busy ones are not', async () => {
      const s = await start(transport, { idleTimeoutMs: 800 });
      const silent = await raw(s.port); // never sends a byte
      const idle = client(s, transport);
      assert.equal(await idle.echo('once'), 'once');
      const holding = client(s, transport);
      const held = holding.wait('long'); // in flight for longer than the idle timeout
      const active = client(s, transport);
      const calls = keepCalling(active, 25);

      const silentMs = await Promise.race([silent.closed, sleep(5000).then(() => -1)]);
      assert.ok(silentMs >= 750, `not before the timeout (closed after ${silentMs.toFixed(0)} ms)`);
      await until('the silent and the idle connection to be closed', () => counters(s)['connections_idle_closed'] === 2);
      await until('the one with a call in flight and the active one to be the only ones open', () => s.connections === 2);

      await sleep(900); // longer than the timeout again: the call is still in flight
      assert.equal(s.connections, 2);
      gates.release('long');
      assert.equal(await held, 'long');
      assert.ok((await calls.stop()) > 5);
      await until('the other two to go idle and be closed', () => counters(s)['connections_idle_closed'] === 4);
      await until('every connection to be closed', () => s.connections === 0);

      // Closing is graceful: a client whose connection was closed while idle just reconnects.
      assert.equal(await idle.echo('back'), 'back');
      assert.deepEqual(
        errors.map((e) => `${e.where}: ${String(e.err)}`),
        [],
        'idle closes are counted, not reported',
      );
    });
  });

  describe(`${transport}: read timeout (slowloris)`, () => {
    test('a message sent one byte per 100 ms is cut at frameTimeoutMs; legitimate calls keep succeeding', async () => {
      const s = await start(transport, { frameTimeoutMs: 600 });
      const legit = client(s, transport);
      const calls = keepCalling(legit, 20);
      const slow = await raw(s.port);
      const bytes = echoCall(transport, 'x'.repeat(100));
      let sent = 0;
      const drip = setInterval(() => {
        if (sent < bytes.length && !slow.isClosed()) slow.sock.write(bytes.subarray(sent, ++sent));
      }, 100);
      const ms = await Promise.race([slow.closed, sleep(4000).then(() => -1)]);
      clearInterval(drip);
      assert.ok(ms >= 550, `closed by the read timeout, not before it (${ms.toFixed(0)} ms, ${sent} bytes sent)`);
      assert.ok(ms < 2000, `closed soon after the timeout (${ms.toFixed(0)} ms)`);
      assert.ok((await calls.stop()) > 10, 'the legitimate client kept calling');
      assert.equal(reported(ReadTimeoutError).length, 1);
      assert.match(String((reported(ReadTimeoutError)[0]!.err as Error).message), /within 600 ms \(frameTimeoutMs\)/);
      assert.equal(counters(s)['connections_read_timeout'], 1);
    });

    test('a slow message that completes within the timeout is answered, and each message gets its own clock', async () => {
      const s = await start(transport, { frameTimeoutMs: 1500 });
      const slow = await raw(s.port);
      for (let seqid = 1; seqid <= 5; seqid++) {
        const bytes = echoCall(transport, `slow ${seqid}`, seqid);
        // Each message takes ~400 ms (10 pieces), five in a row: 2 s in all, over the timeout.
        for (let i = 0; i < 10; i++) {
          slow.sock.write(bytes.subarray(Math.floor((i * bytes.length) / 10), Math.floor(((i + 1) * bytes.length) / 10)));
          await sleep(40);
        }
        await until(`the answer to message ${seqid}`, () => slow.received().includes(Buffer.from(`slow ${seqid}`)));
      }
      assert.equal(slow.isClosed(), false);
      assert.equal(counters(s)['connections_read_timeout'] ?? 0, 0);
    });
  });

  describe(`${transport}: partial-message budget`, () => {
    test('connections each sending most of a big message: the budget holds, the biggest holder goes, legitimate calls (a big one too) succeed', async () => {
      const budget = new FrameBudget(4 * MiB);
      // Two servers sharing one budget: the bound is across servers, not per server.
      const a = await start(transport, { frameBudget: budget });
      const b = await start(transport, { frameBudget: budget });
      const legit = client(a, transport);
      const calls = keepCalling(legit, 10);

      const attack = 1.5 * MiB;
      const message = echoCall(transport, 'x'.repeat(2 * MiB)).subarray(0, attack); // never finished
      const attackers: Raw[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await raw((i % 2 === 0 ? a : b).port);
        r.sock.write(message);
        attackers.push(r);
      }
      const closed = () => attackers.filter((r) => r.isClosed()).length;
      // Settled once the server read everything the survivors sent.
      // The buffered decoder's bytes are charged twice (memoryFactor: its accumulator's slack).
      const charge = attack * (transport === 'buffered' ? 2 : 1);
      await until('the attack to settle', () => closed() + budget.holding === 5 && budget.used === budget.holding * charge);
      assert.ok(closed() >= 3, `5 × 1.5 MiB do not fit 4 MiB: ${closed()} closed`);
      assert.ok(budget.used <= budget.limit);
      assert.ok(budget.peak <= budget.limit + 256 * KiB, `peak ${budget.peak} is the limit plus at most a read`);

      // An honest big message still fits: it holds less than any attacker while it arrives, so an attacker goes.
      const before = closed();
      const big = 'y'.repeat(1.5 * MiB);
      assert.equal(await legit.echo(big), big);
      assert.ok(closed() > before || budget.used + charge <= budget.limit, 'room was made by closing an attacker');
      assert.ok((await calls.stop()) > 0, 'legitimate calls kept succeeding (the first failure would have thrown)');
      assert.equal(await client(b, transport).echo('on b'), 'on b');

      const evictions = reported(FrameBudgetError).length;
      assert.equal(evictions, budget.evictions);
      assert.equal(evictions, closed());
      assert.equal((counters(a)['connections_over_frame_budget'] ?? 0) + (counters(b)['connections_over_frame_budget'] ?? 0), evictions);
      for (const r of attackers) r.sock.destroy();
      await until('closed connections to give their bytes back', () => budget.used === 0 && budget.holding === 0);
    });
  });

  describe(`${transport}: trickled big message`, () => {
    test('16 MB in 4 KB chunks costs about what it costs in one write', { timeout: 120_000 }, async () => {
      const s = await start(transport, { frameTimeoutMs: 60_000 });
      const pad = Array.from({ length: 1_000_000 }, () => 'abcdefghijkl'); // 16 MB of 16-byte elements
      const message = wire(transport, PaddedEchoArgs, { s: 'done', pad });
      assert.ok(message.length > 16_000_000);

      const send = async (chunk: number): Promise<number> => {
        const r = await raw(s.port);
        const cpu = process.cpuUsage();
        for (let off = 0; off < message.length; off += chunk) {
          if (!r.sock.write(message.subarray(off, off + chunk))) await new Promise((res) => r.sock.once('drain', res));
          // One chunk per server read: let the server read before the next write.
          if (chunk < message.length) await new Promise((res) => setImmediate(res));
        }
        await until('the answer', () => r.received().includes(Buffer.from('done')), 60_000);
        const used = process.cpuUsage(cpu);
        r.sock.destroy();
        return (used.user + used.system) / 1000;
      };
      await send(message.length); // warm up
      const oneWrite = await send(message.length);
      const trickled = await send(4 * KiB);
      if (process.env['SHOW_CPU']) console.log(`${transport}: trickled ${trickled.toFixed(0)} ms CPU, one write ${oneWrite.toFixed(0)} ms`);
      // Measuring the partial message again on every chunk cost minutes here.
      assert.ok(trickled < 5 * oneWrite + 1000, `trickled: ${trickled.toFixed(0)} ms of CPU, one write: ${oneWrite.toFixed(0)} ms`);
    });
  });
}
