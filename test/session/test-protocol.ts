// A tiny length-prefixed protocol for the session tests, with its own server, over real TCP.
// Frame body: `kind:u8 tag:u32 text`. Client → server: C (call, text "<delayMs> <payload>"),
// O (oneway), Q (pong), X (discard tag). Server → client: R (reply, text = payload), E (error for
// tag), P (ping), D (drain), L (lease, text = ms). The codec has no check of its own (like Mux):
// only the session's tag matching stands between a late reply and the wrong caller.
import { ProtocolError, TimeoutError } from '../../src/core/errors.js';
import { CallContext } from '../../src/core/service.js';
import type { TagSpace } from '../../src/core/tags.js';
import type { MultiplexedCodec, SessionControl } from '../../src/session/index.js';
import { Connection, listenTcp, type TcpListener } from '../../src/transport/index.js';
import { sleep, until } from '../harness/wait.js';
export { sleep, until };

export const framing = { kind: 'length-prefixed' } as const;

export interface TestReq {
  readonly payload: string;
  readonly delayMs?: number;
  readonly oneway?: boolean;
}

export const RECENT: TagSpace = { first: 1, last: 0x7fffffff, order: 'recent' };
export const MUX_TAGS: TagSpace = { first: 2, last: 0x7fffff, order: 'lowest' };

function writeFrame(conn: Connection, kind: string, tag: number, text: string): void {
  const mark = conn.beginMessage();
  const w = conn.writer;
  w.writeU8(kind.charCodeAt(0));
  w.writeU32(tag);
  w.writeUtf8(text);
  conn.endMessage(mark);
}

function parse(message: Buffer): { kind: string; tag: number; text: string } {
  return { kind: String.fromCharCode(message[0]!), tag: message.readUInt32BE(1), text: message.toString('utf8', 5) };
}

/** The client codec; `discard` makes it tell the server about abandoned calls (as Mux does). */
export class TestCodec implements MultiplexedCodec<TestReq, string> {
  pings = 0;
  constructor(
    readonly tags: TagSpace = RECENT,
    readonly discard = false,
  ) {
    if (discard) this.abandoned = (tag, _req, s) => writeFrame(s.conn, 'X', tag, '');
  }

  abandoned?: (tag: number, req: TestReq, s: SessionControl<TestReq, string>) => void;

  oneway(req: TestReq): string | undefined {
    return req.oneway === true ? '' : undefined;
  }

  write(conn: Connection, req: TestReq, tag: number): void {
    writeFrame(conn, req.oneway === true ? 'O' : 'C', tag, `${req.delayMs ?? 0} ${req.payload}`);
  }

  read(message: Buffer, s: SessionControl<TestReq, string>): void {
    const { kind, tag, text } = parse(message);
    switch (kind) {
      case 'R':
        return s.reply(tag, text);
      case 'E':
        return s.fail(tag, new ProtocolError(`peer failed the call: ${text}`));
      case 'P':
        this.pings++;
        return writeFrame(s.conn, 'Q', tag, text);
      case 'D':
        return s.drain();
      case 'L':
        return s.lease(Number(text));
      default:
        return s.violation(`unknown message kind '${kind}'`);
    }
  }
}

export interface TestServer {
  readonly port: number;
  /** Every call received: its tag and payload, in arrival order. */
  readonly calls: { tag: number; payload: string }[];
  readonly discards: number[];
  readonly pongs: string[];
  /** The server side of every connection accepted. */
  readonly conns: Connection[];
  /** Sends a raw frame on the latest connection. */
  send(kind: string, tag: number, text: string): void;
  /** Answers held calls (payload starting with "hold") with this payload. */
  release(payload: string): void;
  close(): Promise<void>;
}

/**
 * `inOrder`: replies go out in request order (a serial protocol: each waits for the previous
 * one), with tag 0. Otherwise each reply leaves after its own delay, under its call's tag.
 */
export async function startTestServer(opts: { inOrder?: boolean } = {}): Promise<TestServer> {
  const calls: { tag: number; payload: string }[] = [];
  const discards: number[] = [];
  const pongs: string[] = [];
  const conns: Connection[] = [];
  const held = new Map<string, () => void>();
  const onConnection = (socket: import('node:net').Socket): void => {
    const conn = new Connection(socket, { framing });
    conns.push(conn);
    let previous: Promise<void> = Promise.resolve();
    conn.onPeerEnd = () => void previous.then(() => conn.end());
    conn.onMessage = (message) => {
      const { kind, tag, text } = parse(message);
      if (kind === 'Q') return void pongs.push(text);
      if (kind === 'X') return void discards.push(tag);
      if (kind === 'O') return;
      const space = text.indexOf(' ');
      const delay = Number(text.slice(0, space));
      const payload = text.slice(space + 1);
      calls.push({ tag, payload });
      const ready = payload.startsWith('hold') ? new Promise<void>((resolve) => held.set(payload, resolve)) : new Promise<void>((resolve) => setTimeout(resolve, delay));
      const answer = (): void => {
        if (!conn.closing) writeFrame(conn, 'R', opts.inOrder === true ? 0 : tag, payload);
      };
      if (opts.inOrder === true) previous = Promise.all([previous, ready]).then(answer);
      else void ready.then(answer);
    };
  };
  const listener: TcpListener = await listenTcp({ onConnection });
  return {
    port: listener.port,
    calls,
    discards,
    pongs,
    conns,
    send: (kind, tag, text) => writeFrame(conns[conns.length - 1]!, kind, tag, text),
    release: (payload) => {
      const r = held.get(payload);
      held.delete(payload);
      r?.();
    },
    close: async () => {
      for (const c of conns) c.close();
      await listener.close(1000);
    },
  };
}

export function connect(port: number): Promise<Connection> {
  return Connection.connect('127.0.0.1', port, { framing, connectTimeoutMs: 2000 });
}

export const ctx = (): CallContext => new CallContext('test', undefined, undefined);

/** Settles a promise into its value or its error. */
export function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** Runs `fn` with queueMicrotask capturing what the callbacks it schedules throw. */
export async function catchingMicrotaskThrows(fn: () => Promise<void>): Promise<unknown[]> {
  const thrown: unknown[] = [];
  const original = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (cb) =>
    original(() => {
      try {
        cb();
      } catch (err) {
        thrown.push(err);
      }
    });
  try {
    await fn();
  } finally {
    globalThis.queueMicrotask = original;
  }
  return thrown;
}

export interface LoadOutcome {
  ok: number;
  timedOut: number;
  /** Replies that reached another caller than theirs: must stay empty. */
  wrong: string[];
  /** Failures other than the callers' own timeouts. */
  other: unknown[];
}

/**
 * `callers` concurrent callers make `calls` calls in all, each cancelled with a TimeoutError after
 * 1..maxTimeoutMs while the server answers after 0..maxDelayMs: late replies race tag reuse.
 */
export async function callsUnderTimeouts(
  s: { call(req: TestReq, c: CallContext): Promise<string> },
  o: { calls: number; callers: number; prefix: string; maxTimeoutMs: number; maxDelayMs: number },
): Promise<LoadOutcome> {
  const out: LoadOutcome = { ok: 0, timedOut: 0, wrong: [], other: [] };
  let next = 0;
  async function caller(): Promise<void> {
    while (next < o.calls) {
      const payload = `${o.prefix}${next++}`;
      const c = ctx();
      const timer = setTimeout(() => c.cancel(new TimeoutError()), 1 + Math.floor(Math.random() * o.maxTimeoutMs));
      const r = await settle(s.call({ payload, delayMs: Math.floor(Math.random() * o.maxDelayMs) }, c));
      clearTimeout(timer);
      if (r.ok) {
        if (r.value === payload) out.ok++;
        else out.wrong.push(`${payload} got ${r.value}`);
      } else if (r.error instanceof TimeoutError) out.timedOut++;
      else out.other.push(r.error);
    }
  }
  await Promise.all(Array.from({ length: o.callers }, caller));
  return out;
}
