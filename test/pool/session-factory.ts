// Real-TCP plumbing for the pool tests: an Echo server that records what it received, a TCP
// proxy we control (counts accepted connections, refuses or drops them on demand), a Connector
// that opens a real Connection + ThriftSession, and echo requests encoded with the binary codec.
// Nothing here fakes a connection: the recording session only counts calls before delegating.
import assert from 'node:assert/strict';
import net from 'node:net';
import { BufferReader, BufferWriter } from '../../src/core/bytes.js';
import { ConnectError, ProtocolError, type ScalesError } from '../../src/core/errors.js';
import { CallContext, type Service, type Status } from '../../src/core/service.js';
import type { Connector, PooledConnection } from '../../src/pool/types.js';
import { BinaryProtocol } from '../../src/protocols/thrift/binary.js';
import { MessageType } from '../../src/protocols/thrift/descriptors.js';
import { EchoService, echoHandler, type EchoHandler, type EchoReply } from '../fixtures/echo-service.js';
// server.js, not index.js: the index pulls in the client builder, which is not ours to depend on.
import { serveThrift, type ThriftServer } from '../../src/protocols/thrift/server.js';
import { thriftFraming } from '../../src/protocols/thrift/framing.js';
import type { ThriftReply, ThriftRequest } from '../../src/protocols/thrift/messages.js';
import { ThriftSession } from '../../src/protocols/thrift/session.js';
import { Connection } from '../../src/transport/index.js';
import { sleep, until } from '../harness/wait.js';
export { sleep, until };

// ---- the Echo service: test/fixtures/echo-service.ts ---------------------------------------

export type { EchoHandler, EchoReply };

/** Settles a promise into a value or an error. */
export function outcome<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

// ---- requests ----------------------------------------------------------------------------------

/** An encoded `echo(id, delayMs, payload)` call; `id` is kept beside the bytes for bookkeeping. */
export interface EchoRequest extends ThriftRequest {
  readonly id: bigint;
}

const scratch = new BufferWriter(256);
const echoMethod = EchoService.methods.echo!;

export function echoRequest(id: bigint | number, delayMs = 0, payload = `p${String(id)}`): EchoRequest {
  const big = BigInt(id);
  BinaryProtocol.writeStruct(scratch, echoMethod.args, { id: big, delayMs, payload });
  return { name: 'echo', oneway: false, body: scratch.takeCopy(), id: big };
}

/** Decodes an echo reply the way the serializer does. */
export function decodeEcho(reply: ThriftReply): EchoReply {
  if (reply.type !== MessageType.REPLY) throw new ProtocolError(`echo got message type ${reply.type}`);
  const r = new BufferReader(reply.message, reply.offset);
  const result = BinaryProtocol.readStruct(r, echoMethod.result) as { success?: EchoReply };
  if (result.success === undefined) throw new ProtocolError('echo reply without success');
  return result.success;
}

/** A call context as the timeout layer would hand it down (`timeoutMs` from now, or none). */
export function ctx(timeoutMs?: number): CallContext {
  return new CallContext('echo', timeoutMs === undefined ? undefined : Date.now() + timeoutMs, undefined);
}

/** A promise plus whether it has settled yet (to assert orders without timing). */
export interface Tracked<T> {
  readonly p: Promise<T>;
  settled: boolean;
}

export function track<T>(p: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { p, settled: false };
  p.then(
    () => (t.settled = true),
    () => (t.settled = true),
  );
  return t;
}

// ---- server ------------------------------------------------------------------------------------

export interface Seen {
  id: bigint;
  /** The client end of the TCP connection as the server saw it (one per connection). */
  peer: string;
}

export interface EchoServer {
  readonly server: ThriftServer;
  readonly port: number;
  /** Every echo call the server received, in arrival order. */
  readonly seen: Seen[];
  ids(): bigint[];
  /** Distinct connections that carried at least one call. */
  peers(): Set<string>;
  close(graceMs?: number): Promise<void>;
}

export async function startEchoServer(port = 0): Promise<EchoServer> {
  const seen: Seen[] = [];
  const handler: EchoHandler = {
    echo(id, delayMs, payload, ctx) {
      seen.push({ id, peer: ctx.peer });
      return echoHandler.echo(id, delayMs, payload, ctx);
    },
  };
  const server = await serveThrift(EchoService, handler, { port });
  return {
    server,
    port: server.port,
    seen,
    ids: () => seen.map((s) => s.id),
    peers: () => new Set(seen.map((s) => s.peer)),
    close: (graceMs = 2000) => server.close(graceMs),
  };
}

/** A port nothing listens on (bound, read, released). Racy by nature, fine on loopback tests. */
export function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

// ---- proxy -------------------------------------------------------------------------------------

/**
 * A byte-for-byte TCP forwarder in front of the server, so a test can count the connections the
 * pool really opens and cut them. `refuse()` stops listening (new connects are refused, open ones
 * keep working), `accept()` listens again on the same port, `dropAll()` destroys every open pair.
 */
export class TcpProxy {
  accepted = 0;
  private readonly pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  private server: net.Server | undefined;
  port = 0;

  constructor(private readonly targetPort: number) {}

  get live(): number {
    return this.pairs.size;
  }

  async accept(): Promise<void> {
    if (this.server !== undefined) return;
    const server = net.createServer({ allowHalfOpen: true }, (client) => this.onConnection(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /**
   * Stops listening: connects are refused; connections already open are untouched. Resolves once
   * the listening socket is gone, which (net.Server.close) is only after every open pair closed.
   */
  refuse(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s === undefined) return Promise.resolve();
    return new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Destroys every open connection (both halves), as a crashing server would. */
  dropAll(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    const closing = this.refuse();
    this.dropAll();
    await closing;
  }

  private onConnection(client: net.Socket): void {
    this.accepted++;
    const upstream = net.connect({ host: '127.0.0.1', port: this.targetPort, allowHalfOpen: true });
    const pair = { client, upstream };
    this.pairs.add(pair);
    const done = (): void => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', done);
    upstream.on('error', done);
    let closed = 0;
    const onClose = (): void => {
      if (++closed === 2) this.pairs.delete(pair);
      else if (client.destroyed && upstream.destroyed) this.pairs.delete(pair);
    };
    client.on('close', onClose);
    upstream.on('close', onClose);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

// ---- connector ---------------------------------------------------------------------------------

/** A real ThriftSession that also remembers which calls it carried and whether it was closed. */
export class RecordingSession implements PooledConnection<EchoRequest, ThriftReply> {
  readonly calls: bigint[] = [];
  closeCalled = false;
  /** abort() was called (the connection was cut, not ended). */
  aborted = false;
  /** `Date.now()` when close() was first called. */
  closedAt = 0;

  constructor(
    readonly index: number,
    readonly session: ThriftSession,
    private readonly log: bigint[] = [],
  ) {}

  get load(): number {
    return this.session.load;
  }

  /** Forwarded when the session counts abandoned calls (so the pool sees what it would see bare). */
  get abandoned(): number | undefined {
    return (this.session as { abandoned?: number }).abandoned;
  }

  get status(): Status {
    return this.session.status;
  }

  /** Calls handed to this connection while a reply was still owed on it (abandoned or not). */
  sentWhileOwed = 0;

  call(req: EchoRequest, ctx: CallContext): Promise<ThriftReply> {
    if (this.session.load > 0 || this.session.abandoned > 0) this.sentWhileOwed++;
    this.calls.push(req.id);
    this.log.push(req.id);
    return this.session.call(req, ctx);
  }

  close(): Promise<void> {
    if (!this.closeCalled) this.closedAt = Date.now();
    this.closeCalled = true;
    return this.session.close();
  }

  /** Forwarded as well: a pool cuts a connection with it (closeCalled records either way). */
  abort(): void {
    this.aborted = true;
    if (!this.closeCalled) this.closedAt = Date.now();
    this.closeCalled = true;
    this.session.abort();
  }
}

/**
 * The same, plus `whenIdle()` as a session offering it would: resolves when none of the calls it
 * carries is pending any more (counted here from their promises).
 */
export class IdleRecordingSession extends RecordingSession {
  private pending = 0;
  private wake: (() => void)[] = [];
  /** whenIdle() calls (the pool's drain asks for it instead of polling). */
  idleAsked = 0;

  override call(req: EchoRequest, ctx: CallContext): Promise<ThriftReply> {
    this.pending++;
    const p = super.call(req, ctx);
    const done = (): void => {
      if (--this.pending === 0) for (const f of this.wake.splice(0)) f();
    };
    p.then(done, done);
    return p;
  }

  whenIdle(): Promise<void> {
    this.idleAsked++;
    return this.pending === 0 ? Promise.resolve() : new Promise((resolve) => this.wake.push(resolve));
  }
}

export interface TrackedConnector {
  readonly connect: Connector<EchoRequest, ThriftReply>;
  /** Every session opened, in order. */
  readonly sessions: RecordingSession[];
  /** Every call handed to any session, in dispatch order. */
  readonly dispatched: bigint[];
  /** Connect attempts made (failed ones included). */
  attempts: number;
  /** Sessions not closed yet (as the client side sees them). */
  open(): number;
}

/**
 * Connects a real Connection + ThriftSession (binary, framed) to 127.0.0.1:`port()`; with
 * `whenIdle`, the sessions offer whenIdle() (else the pools count their calls themselves).
 */
/** The session's own whenIdle, which waits for abandoned calls' late replies too. */
export class SessionIdleRecordingSession extends RecordingSession {
  whenIdle(): Promise<void> {
    return this.session.whenIdle();
  }
}

/**
 * `whenIdle`: true gives the pool a whenIdle counting the calls sent through the wrapper (an
 * abandoned call counts until it is rejected); 'session' forwards the session's own, which counts
 * it until its late reply has arrived.
 */
export function thriftConnector(port: () => number, opts: { delayMs?: number; whenIdle?: boolean | 'session' } = {}): TrackedConnector {
  const protocol = BinaryProtocol;
  const framing = thriftFraming('framed', protocol);
  const tracked: TrackedConnector = {
    sessions: [],
    dispatched: [],
    attempts: 0,
    open: () => tracked.sessions.filter((s) => s.status !== 'closed').length,
    connect: async () => {
      tracked.attempts++;
      if (opts.delayMs !== undefined) await sleep(opts.delayMs);
      const p = port();
      const conn = await Connection.connect('127.0.0.1', p, { framing, maxFrameSize: 1 << 20, connectTimeoutMs: 2000, endpoint: `127.0.0.1:${p}` });
      const Session = opts.whenIdle === 'session' ? SessionIdleRecordingSession : opts.whenIdle === true ? IdleRecordingSession : RecordingSession;
      const s = new Session(tracked.sessions.length, new ThriftSession(conn, protocol), tracked.dispatched);
      tracked.sessions.push(s);
      return s;
    },
  };
  return tracked;
}

/** Sends echo(id, delayMs) through `pool` and checks and decodes the reply. */
export async function echo(pool: Service<EchoRequest, ThriftReply>, id: number, delayMs = 0, c: CallContext = ctx()): Promise<bigint> {
  const rep = decodeEcho(await pool.call(echoRequest(id, delayMs), c));
  assert.equal(rep.payload, `p${id}`, `payload of call ${id}`);
  return rep.id;
}

/** For assert.rejects: the error is a `cls`, and (if given) its `unwritten` is as said. */
export const isErr =
  <E extends ScalesError>(cls: new (...a: never[]) => E, unwritten?: boolean) =>
  (err: unknown): boolean => {
    assert.ok(err instanceof cls, `expected ${cls.name}, got ${String(err)}`);
    if (unwritten !== undefined) assert.equal(err.unwritten, unwritten, `${cls.name}.unwritten`);
    return true;
  };

/** `n` consecutive numbers from `from`. */
export const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

/**
 * The shared connect-failure story of the multiplexed pools (`make` builds the pool with an
 * 800 ms constant backoff over the connector it is given): a burst to a port nothing listens on
 * fails with ConnectError (unwritten) after ONE connect; during the backoff the pool is busy and
 * fails fast without connecting, even once a server listens; then it recovers.
 */
export async function connectRefusedThenRecovers(
  make: (c: TrackedConnector) => Service<EchoRequest, ThriftReply> & { readonly status: Status; close(graceMs?: number): Promise<void> },
  firstId: number,
): Promise<void> {
  const port = await unusedPort();
  const c = thriftConnector(() => port);
  const pool = make(c);
  const burst = [0, 1, 2].map((i) => echo(pool, firstId + i));
  for (const p of burst) await assert.rejects(p, isErr(ConnectError, true));
  assert.equal(c.attempts, 1, 'one connect for the burst');
  assert.equal(pool.status, 'busy');
  const late = await startEchoServer(port);
  try {
    await assert.rejects(echo(pool, firstId + 3), (err: unknown) => isErr(ConnectError, true)(err) && /no new connect for another/.test((err as Error).message));
    assert.equal(c.attempts, 1, 'no connect during backoff');
    await until('backoff over', () => pool.status === 'open');
    assert.deepEqual(await Promise.all([firstId + 4, firstId + 5].map((id) => echo(pool, id))), [BigInt(firstId + 4), BigInt(firstId + 5)]);
    assert.equal(c.attempts, 2);
    assert.deepEqual(late.ids(), [BigInt(firstId + 4), BigInt(firstId + 5)]);
  } finally {
    await pool.close(100);
    await late.close(100);
  }
}
