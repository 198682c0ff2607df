// The hostile suite (issue 9): a Scales Thrift server in its own process with a 1 GiB heap, every
// wire protocol and transport, attacked with valid-but-monstrous messages, floods and senders
// that never read. In every case the server must stay up, its peak RSS (VmHWM, from /proc) stay
// under 512 MB, a client on another connection keep succeeding, and the attack end in a typed
// error the server reports (`ERR SCALES_ERR_...` lines from its onError hook) or a closed
// connection.
import assert from 'node:assert/strict';
import type net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, beforeEach, describe, test } from 'node:test';
import { loadIdl, MessageType, Thrift, type ServiceDesc } from '../../src/protocols/thrift/index.js';
import type { ProcessHandle } from '../harness/process.js';
import { cpuMs, memory, MiB, resetPeak, RSS_LIMIT, sleep, startHostileServer, Victim } from './watch.js';
import { closedCount, echoCall, fitting, i32Call, listOfEmpty, listOfEmptyLists, mapOfEmpty, openSocket, sendAndWaitClose, setOfI32, type Transport, type Wire } from './frames.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MAX_FRAME = 16 * MiB; // the server's default maxFrameSize

/**
 * Short limits so that the slow-sender cases end in seconds; the partial-frame budget stays at
 * its default (192 MiB). The idle timeout is tried on a server of its own (below): here the
 * victim may send nothing for the seconds this process spends building a monstrous frame.
 */
const LIMITS = { frameTimeoutMs: 1500, maxConnections: 600 };

/** Resolves with how long until the server closed `sock` (Infinity if it had not after `ms`). */
function closedWithin(sock: net.Socket, ms: number): Promise<number> {
  const start = Date.now();
  return new Promise((resolve) => {
    if (sock.destroyed) return resolve(0);
    const timer = setTimeout(() => resolve(Infinity), ms);
    sock.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    });
  });
}

interface HostileClient {
  echo(s: string): Promise<string>;
}

const COMBOS: [Wire, Transport][] = [
  ['binary', 'framed'],
  ['compact', 'framed'],
  ['binary', 'buffered'],
  ['compact', 'buffered'],
];

for (const [wire, transport] of COMBOS) {
  describe(`hostile input against a ${wire}/${transport} server in its own process`, () => {
    let proc: ProcessHandle;
    let port: number;
    let victim: Victim;
    const healthy = (what: string): Promise<string[]> => victim.healthy(what);

    /**
     * Sends one message that fits the decode budget although it is large: whether it is answered
     * or refused, the server must stay within its bounds.
     */
    async function answeredOrRefused(what: string, bytes: Buffer): Promise<void> {
      const r = await sendAndWaitClose(port, bytes, 30_000, true);
      assert.ok(r.closed || r.received > 0, `${what}: answered or closed`);
      const errs = await healthy(what);
      for (const e of errs) assert.match(e, /^ERR SCALES_ERR_\w+ /, `${what}: a typed error (${e})`);
    }

    /** Sends one hostile message; the server must close that connection and report a typed error. */
    async function refused(what: string, bytes: Buffer): Promise<void> {
      const r = await sendAndWaitClose(port, bytes, 30_000);
      assert.ok(r.closed, `${what}: the server closed the connection (waited ${r.ms} ms)`);
      assert.equal(r.received, 0, `${what}: no answer came back`);
      const errs = await healthy(what);
      assert.ok(errs.length > 0, `${what}: the server reported why`);
      for (const e of errs) assert.match(e, /^ERR SCALES_ERR_\w+ /, `${what}: a typed error (${e})`);
    }

    before(async () => {
      proc = await startHostileServer(['--protocol', wire, '--transport', transport, '--options', JSON.stringify(LIMITS)]);
      port = Number(proc.readyMatch![1]);
      const service = (await loadIdl(path.join(here, 'hostile.thrift'))).services['Hostile'] as ServiceDesc<HostileClient>;
      victim = new Victim(proc, Thrift.newClient(service, `tcp://127.0.0.1:${port}`, { protocol: wire, transport, timeout: 10_000, retries: false }));
    });

    beforeEach(() => resetPeak(proc));

    after(async () => {
      await victim.close();
      await proc.stop();
    });

    test('baseline: the victim is served and the server is small', async () => {
      await healthy('baseline');
      assert.ok(memory(proc, 'VmRSS') < 200 * MiB);
    });

    test('list<Empty> filling a whole frame (one byte per element)', async () => {
      await refused('list<Empty>', listOfEmpty(wire, transport, fitting(MAX_FRAME, 1)));
    });

    test('the same list in an unknown field (skipped, not decoded)', async () => {
      await refused('skipped list<Empty>', listOfEmpty(wire, transport, fitting(MAX_FRAME, 1), 'echo', 99));
    });

    test('list<list<Empty>> of empty lists (binary: 5 wire bytes each, within the budget)', async () => {
      const frame = listOfEmptyLists(wire, transport, fitting(MAX_FRAME, wire === 'binary' ? 5 : 1));
      if (wire === 'binary') await answeredOrRefused('list<list<Empty>>', frame);
      else await refused('list<list<Empty>>', frame);
    });

    test('map<i32, Empty> with distinct keys', async () => {
      await refused('map<i32,Empty>', mapOfEmpty(wire, transport, fitting(MAX_FRAME, wire === 'binary' ? 5 : 5)));
    });

    test('set<i32> of distinct numbers (24 heap bytes per 4 wire bytes: within the budget)', async () => {
      await answeredOrRefused('set<i32>', setOfI32(wire, transport, fitting(MAX_FRAME, 4)));
    });

    test('two such frames at once, on two connections', async () => {
      const frame = listOfEmpty(wire, transport, fitting(MAX_FRAME, 1));
      const [a, b] = await Promise.all([sendAndWaitClose(port, frame, 30_000), sendAndWaitClose(port, frame, 30_000)]);
      assert.ok(a.closed && b.closed, 'both closed');
      const errs = await healthy('two frames');
      assert.ok(errs.length >= 2, `both reported: ${errs.join('; ')}`);
    });

    test('a ONEWAY message naming a two-way method is refused, the handler never runs', async () => {
      await refused('ONEWAY wait', i32Call(wire, transport, 'wait', 60_000, MessageType.ONEWAY));
    });

    test('a flood of 100,000 oneway calls with slow handlers stays bounded', async () => {
      const one = i32Call(wire, transport, 'fire', 200);
      const sock = await openSocket(port);
      try {
        sock.write(Buffer.alloc(one.length * 100_000).fill(one));
        await sleep(2000);
        await healthy('oneway flood');
      } finally {
        sock.destroy();
      }
    });

    test('16 connections pipelining big calls without reading a reply', async () => {
      const call = echoCall(wire, transport, 'x'.repeat(64 * 1024));
      const socks: net.Socket[] = [];
      try {
        for (let i = 0; i < 16; i++) {
          const s = await openSocket(port);
          s.pause(); // never read: the server's replies pile up unless it stops reading
          for (let k = 0; k < 100; k++) s.write(call);
          socks.push(s);
        }
        await sleep(2000);
        await healthy('pipelining without reading');
        const rss = memory(proc, 'VmRSS');
        assert.ok(rss < 400 * MiB, `RSS ${(rss / MiB).toFixed(0)} MB while 100 MB of replies are refused`);
      } finally {
        for (const s of socks) s.destroy();
      }
    });

    test('slowloris: 20 connections sending a message one byte every 100 ms are closed by the read timeout', async () => {
      const call = echoCall(wire, transport, 'x'.repeat(1000));
      const socks = await Promise.all(Array.from({ length: 20 }, () => openSocket(port)));
      const closed = socks.map((s) => closedWithin(s, 10_000));
      let i = 0;
      const drip = setInterval(() => {
        for (const s of socks) if (!s.destroyed) s.write(call.subarray(i, i + 1));
        i++;
      }, 100);
      try {
        const ms = await Promise.all(closed);
        assert.ok(
          ms.every((t) => t < 8000),
          `all closed by the ${LIMITS.frameTimeoutMs} ms read timeout: ${ms.join(', ')}`,
        );
      } finally {
        clearInterval(drip);
        for (const s of socks) s.destroy();
      }
      const errs = await healthy('slowloris');
      assert.ok(
        errs.some((e) => e.startsWith('ERR SCALES_ERR_TIMEOUT')),
        `read timeouts reported: ${errs.slice(0, 3).join('; ')}`,
      );
    });

    test('40 connections each holding 16 MiB - 1 byte of a message: the partial-frame budget holds', async () => {
      const big = echoCall(wire, transport, 'x'.repeat(MAX_FRAME - 200));
      const partial = big.subarray(0, Math.min(big.length, MAX_FRAME) - 1);
      const socks = await Promise.all(Array.from({ length: 40 }, () => openSocket(port)));
      try {
        for (const s of socks) s.write(partial);
        // 40 × 16 MiB is 640 MiB against the 192 MiB budget: the biggest holders are closed.
        // Wait until every byte was taken or refused, so that the peak below covers the whole flood.
        for (let i = 0; i < 400 && socks.some((s) => !s.closed && s.writableLength > 0); i++) await sleep(50);
        await healthy('partial frames');
        assert.ok(closedCount(socks) > 0, 'the budget closed some of them');
      } finally {
        for (const s of socks) s.destroy();
      }
    });

    test('past maxConnections new connections are refused at once while the others are served', async () => {
      const socks: net.Socket[] = [];
      try {
        for (let i = 0; i < LIMITS.maxConnections + 50; i++) socks.push(await openSocket(port));
        await sleep(300);
        const refused = closedCount(socks);
        assert.ok(refused >= 45, `about 50 refused: ${refused}`);
        await healthy('connection cap');
      } finally {
        for (const s of socks) s.destroy();
      }
    });

    if (transport === 'buffered') {
      test('an 8 MB message trickled in 4 KB pieces costs the server little CPU', async () => {
        const call = echoCall(wire, transport, 'x'.repeat(8 * MiB));
        const sock = await openSocket(port);
        const before = cpuMs(proc);
        let got = 0;
        sock.on('data', (c) => (got += c.length));
        for (let i = 0; i < call.length; i += 4096) {
          sock.write(call.subarray(i, i + 4096));
          await new Promise((r) => setImmediate(r));
        }
        for (let i = 0; i < 200 && got < 8 * MiB; i++) await sleep(50);
        const spent = cpuMs(proc) - before;
        sock.destroy();
        assert.ok(got >= 8 * MiB, `the echo came back (${got} bytes)`);
        assert.ok(spent < 4000, `server CPU ${spent} ms for 2048 pieces`);
        await healthy('buffered trickle');
      });
    }
  });
}

describe('idle connections against a server in its own process (idleTimeoutMs 1000)', () => {
  test('300 idle connections are closed by the idle timeout; one that keeps calling is not', async () => {
    const proc = await startHostileServer(['--options', JSON.stringify({ idleTimeoutMs: 1000 })]);
    const port = Number(proc.readyMatch![1]);
    const service = (await loadIdl(path.join(here, 'hostile.thrift'))).services['Hostile'] as ServiceDesc<HostileClient>;
    const busy = Thrift.newClient(service, `tcp://127.0.0.1:${port}`, { timeout: 10_000, retries: false });
    try {
      const socks = await Promise.all(Array.from({ length: 300 }, () => openSocket(port)));
      const closing = Promise.all(socks.map((s) => closedWithin(s, 15_000)));
      // Meanwhile one client calls every 200 ms for 3 s: never idle for a whole second.
      for (let i = 0; i < 15; i++) {
        assert.equal(await busy.echo(`b${i}`), `b${i}`);
        await sleep(200);
      }
      const ms = await closing;
      assert.ok(
        ms.every((t) => t < 12_000),
        `all idle ones closed (slowest ${Math.max(...ms)} ms)`,
      );
      assert.equal(memory(proc, 'VmHWM') < RSS_LIMIT, true);
    } finally {
      await busy.$close();
      await proc.stop();
    }
  });
});
