// What was silent is logged: handler crashes, protocol mismatches with a hint of what the peer
// speaks, oversized frames; through a pluggable logger (pino's signature), rate-limited per kind,
// silenced by `logger: false`.
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import { consoleLogger, type LogFields, type Logger } from '../../src/core/logger.js';
import { Thrift, type ThriftServer } from '../../src/protocols/thrift/index.js';
import { EchoService } from '../fixtures/echo-service.js';
import { until } from '../harness/wait.js';

type Line = { level: string; obj: LogFields; msg: string | undefined };

function recorder(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: LogFields, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const crashing = {
  echo: (): never => {
    throw new Error('boom inside');
  },
};

/** Writes `bytes` to the server as a raw peer and waits until the server closes the connection. */
function sendRaw(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(bytes));
    c.on('data', () => {});
    c.on('error', () => resolve());
    c.on('close', () => resolve());
    setTimeout(() => c.destroy(), 3000).unref();
  });
}

const binaryCall = Buffer.from([0x80, 0x01, 0x00, 0x01, 0, 0, 0, 4, 0x65, 0x63, 0x68, 0x6f, 0, 0, 0, 1, 0]);

describe('a framed Thrift server logs what the peer got wrong', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), /frame of 1195725856 bytes .*the peer sent HTTP/],
    ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), /the peer speaks TLS/],
    ['an unframed binary call (buffered transport)', binaryCall, /frame of 2147549185 bytes .*it uses the buffered transport, this side framed/],
    ['a framed compact call', Buffer.from([0, 0, 0, 9, 0x82, 0x21, 0x01, 4, 0x65, 0x63, 0x68, 0x6f, 0]), /the peer speaks the compact protocol .*this side binary/],
  ];
  for (const [what, bytes, pattern] of cases) {
    test(`${what}: a warning with the hint, kind 'protocol'`, async () => {
      const log = recorder();
      const server: ThriftServer = await Thrift.serve(EchoService, crashing, { port: 0, logger: log });
      try {
        await sendRaw(server.port, bytes);
        await until('a log line', () => log.lines.length > 0);
        assert.equal(log.lines.length, 1, JSON.stringify(log.lines));
        const [line] = log.lines;
        assert.equal(line!.level, 'warn');
        assert.equal(line!.obj.kind, 'protocol');
        assert.match((line!.obj.err as Error).message, pattern);
      } finally {
        await server.close();
      }
    });
  }

  test('a buffered server told a framed call says the peer frames its messages', async () => {
    const log = recorder();
    const server = await Thrift.serve(EchoService, crashing, { port: 0, transport: 'buffered', logger: log });
    try {
      await sendRaw(server.port, Buffer.concat([Buffer.from([0, 0, 0, binaryCall.length]), binaryCall]));
      await until('a log line', () => log.lines.length > 0);
      assert.match((log.lines[0]?.obj.err as Error | undefined)?.message ?? '', /uses the framed transport, this side buffered/);
    } finally {
      await server.close();
    }
  });

  test('the client of a server that speaks another transport hears why it got nothing', async () => {
    const server = await Thrift.serve(EchoService, crashing, { port: 0, transport: 'buffered', logger: false });
    const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { retries: false, timeout: 5000 });
    try {
      await assert.rejects(client.echo(1n, 0, 'x'), /closed the connection before answering anything: does it speak this protocol and transport \(framed vs buffered/);
    } finally {
      await client.$close();
      await server.close();
    }
  });
});

test('a handler crash is logged as an error (kind handler) through the logger option', async () => {
  const log = recorder();
  const server = await Thrift.serve(EchoService, crashing, { port: 0, logger: log });
  const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${server.port}`, { retries: false });
  try {
    await assert.rejects(client.echo(1n, 0, 'x'));
    await until('a log line', () => log.lines.length > 0);
    assert.equal(log.lines[0]?.level, 'error');
    assert.equal(log.lines[0]?.obj.kind, 'handler');
    assert.match(log.lines[0]?.msg ?? '', /^server handler echo$/);
    assert.match(String((log.lines[0]?.obj.err as Error | undefined)?.message), /boom inside/);
  } finally {
    await client.$close();
    await server.close();
  }
});

test('the console logger writes one line per event, rate-limited per kind, and counts what it left out', () => {
  const out: string[] = [];
  let now = 1_000_000;
  const realNow = Date.now;
  Date.now = () => now;
  try {
    const log = consoleLogger({ perKind: 2, windowMs: 1000, write: (l) => out.push(l) });
    for (let i = 0; i < 5; i++) log.warn({ kind: 'protocol', err: new Error(`bad ${i}`) }, 'server connection');
    log.error({ kind: 'handler', err: new Error('crash') }, 'server handler m');
    log.debug({ kind: 'connection' }, 'not at the default level');
    now += 1000;
    log.warn({ kind: 'protocol', err: new Error('bad 5') }, 'server connection');
  } finally {
    Date.now = realNow;
  }
  assert.deepEqual(out, [
    'scales warn: server connection: bad 0',
    'scales warn: server connection: bad 1',
    'scales error: server handler m: crash',
    'scales warn: server connection: bad 5 (3 more like it were left out)',
  ]);
});

test('logger: false silences the server; a logger that throws is ignored', async () => {
  const quiet = await Thrift.serve(EchoService, crashing, { port: 0, logger: false });
  const throwing: Logger = {
    debug() {},
    info() {},
    warn() {},
    error() {
      throw new Error('logger down');
    },
  };
  const loud = await Thrift.serve(EchoService, crashing, { port: 0, logger: throwing });
  try {
    assert.match(quiet.stack.describe(), /logging\s+off/);
    const client = Thrift.newClient(EchoService, `tcp://127.0.0.1:${loud.port}`, { retries: false });
    await assert.rejects(client.echo(1n, 0, 'x'), /Internal error/);
    assert.match(String(await client.echo(1n, 0, 'x').catch((e: Error) => e.message)), /Internal error/); // still serving
    await client.$close();
  } finally {
    await Promise.all([quiet.close(), loud.close()]);
  }
});
