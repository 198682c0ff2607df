/**
 * The client's connection to one ZeroRPC server: a DEALER socket carrying many channels at once.
 * Each call opens a channel (its request's message id), heartbeats it while open, and settles on
 * the first reply: OK → the result, ERR → a RemoteError, STREAM/STREAM_DONE → a ZeroStream that
 * the later events of the channel feed. The load balancer above picks a session per call, so a
 * channel never leaves the server it started on (zerorpc's blind round-robin breaks streams).
 */
import { turnNow } from '../../core/clock.js';
import { callByDispatch } from '../../core/dispatch.js';
import { ClosedError, ConnectError, ConnectionClosedError, ConnectTimeoutError, InvalidArgumentError, ProtocolError, type ScalesError } from '../../core/errors.js';
import type { CallContext, ReplyHandler, Status } from '../../core/service.js';
import type { Endpoint } from '../../discovery/endpoint.js';
import { endpointKey, isTcpEndpoint } from '../../discovery/endpoint.js';
import type { PooledConnection } from '../../pool/types.js';
import { LostRemoteError, RemoteError } from './errors.js';
import { ERR, EventReader, HEARTBEAT, MessageIds, MORE, OK, PROTOCOL_VERSION, STREAM, STREAM_DONE, writeEvent, writeReply, writeRequest } from './events.js';
import { HeartbeatTicker } from './heartbeat.js';
import { SeqTable } from './seq-table.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from './msgpack.js';
import { DEFAULT_MAX_QUEUED, type FrameSocket, loadZmq, MessageSocket, type ZeroTransport, zmqAddress } from './socket.js';
import { ZmtpDealer } from './zmtp/dealer.js';
import { ZeroStream } from './stream.js';
import { headerEntries } from './context.js';
import type { CurveClientOptions } from './curve.js';

/** One call: the method and its positional arguments (ZeroRPC has no keyword arguments). */
export interface ZeroCall {
  readonly method: string;
  readonly args: readonly unknown[];
  /** Extra header keys sent with the request (middleware context, a trace id). */
  readonly header?: Readonly<Record<string, unknown>>;
}

export interface ZeroSessionOptions {
  /** Heartbeat interval in ms (default 5000), or false for none (Python servers then drop long calls). */
  readonly heartbeat?: number | false;
  /** Largest message accepted, in bytes (default 16 MiB): ZeroMQ drops a peer that sends more. */
  readonly maxMessageSize?: number;
  /** Messages queued for sending before calls fail with OverloadedError (default 10,000). */
  readonly maxQueued?: number;
  /** CURVE encryption: the server's public key and this client's key pair. */
  readonly curve?: CurveClientOptions;
  /** Malformed events and replies for unknown channels (dropped); default: ignored. */
  readonly onError?: (err: ScalesError) => void;
  /**
   * `zmtp` (the default for tcp:// without CURVE): this package's own ZMTP; `zeromq`: the npm
   * zeromq binding (always used for CURVE, ipc:// and inproc://).
   */
  readonly transport?: ZeroTransport;
  /** ZMTP handshake (greeting and READY) deadline in ms, own transport only (default 10,000). */
  readonly handshakeTimeout?: number;
}

/** The transport a client or server uses: `zeromq` where ZMTP cannot go, else what was asked (default `zmtp`). */
export function pickTransport(asked: ZeroTransport | undefined, tcpOnly: boolean, curve: boolean): ZeroTransport {
  if (asked !== undefined && asked !== 'zmtp' && asked !== 'zeromq') throw new InvalidArgumentError(`transport must be 'zmtp' or 'zeromq', got '${String(asked)}'`);
  if (!tcpOnly || curve) {
    if (asked === 'zmtp') throw new InvalidArgumentError(`the zmtp transport speaks tcp:// without CURVE only; use transport 'zeromq'`);
    return 'zeromq';
  }
  return asked ?? 'zmtp';
}

/** Every message's envelope: the empty delimiter frame (sockets never keep the array). */
const ENVELOPE: readonly Buffer[] = [Buffer.alloc(0)];

class Channel {
  /**
   * `performance.now()` of the remote's last event, once one came (heartbeats, streams). Not a
   * number from the start: a field that always holds a double gets a box of its own per object.
   */
  heardAt: number | undefined = undefined;
  stream: ZeroStream | undefined = undefined;
  constructor(
    /** The sequence number of the request's id (the channel id), made by the session's MessageIds. */
    readonly seq: number,
    public handler: ReplyHandler<unknown> | undefined,
    readonly ctx: CallContext,
  ) {}

  /** For the heartbeat: the remote's last sign, the call's start at first. */
  get lastRemote(): number {
    return this.heardAt ?? this.ctx.start;
  }
}

export class ZeroClientSession implements PooledConnection<ZeroCall, unknown> {
  /** Open channels by the sequence number of their id (ours: replies name it in `response_to`). */
  private readonly channels = new SeqTable<Channel>();
  private readonly ids = new MessageIds();
  private readonly reader: EventReader;
  private readonly ticker: HeartbeatTicker<Channel> | undefined;
  private sock!: FrameSocket;
  private state: Status = 'open';
  private idle: (() => void)[] = [];
  /** Calls waiting for their first reply. */
  private pending = 0;
  /** Events dropped: malformed, or for a channel that is gone (late replies after a timeout). */
  dropped = 0;

  private constructor(
    readonly endpoint: string,
    private readonly options: ZeroSessionOptions,
  ) {
    this.reader = new EventReader(options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE);
    const hb = options.heartbeat ?? 5000;
    this.ticker =
      hb === false
        ? undefined
        : new HeartbeatTicker<Channel>(
            hb,
            () => this.channels.values(),
            (ch) => this.emit(ch.seq, HEARTBEAT, [0]),
            (ch) => this.lose(ch, new LostRemoteError(hb, { endpoint: this.endpoint })),
          );
  }

  /** Opens a DEALER to `endpoint`; resolves once ZeroMQ connected (rejects after `connectTimeout` ms). */
  static async connect(endpoint: Endpoint, connectTimeout: number, options: ZeroSessionOptions = {}): Promise<ZeroClientSession> {
    const key = endpointKey(endpoint);
    if (isTcpEndpoint(endpoint) && pickTransport(options.transport, endpoint.scheme !== 'tls', options.curve !== undefined) === 'zmtp') {
      const session = new ZeroClientSession(key, options);
      const closed = (err: ScalesError | undefined) => session.fail(new ConnectionClosedError(`ZeroRPC server ${key} disconnected${err ? `: ${err.message}` : ''}`, { endpoint: key, cause: err }));
      session.sock = await ZmtpDealer.connect(
        endpoint.host,
        endpoint.port,
        connectTimeout,
        { maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE, maxQueued: options.maxQueued ?? DEFAULT_MAX_QUEUED, handshakeTimeout: options.handshakeTimeout ?? connectTimeout },
        { message: (_head, buf, start, end) => session.onMessage(buf, start, end), end: closed },
      );
      return session;
    }
    pickTransport(options.transport, false, options.curve !== undefined);
    const zmq = await loadZmq();
    const session = new ZeroClientSession(key, options);
    const socket = new zmq.Dealer({ linger: 0, maxMessageSize: options.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE, immediate: true });
    if (options.curve !== undefined) {
      socket.curvePublicKey = options.curve.publicKey;
      socket.curveSecretKey = options.curve.secretKey;
      socket.curveServerKey = options.curve.serverKey;
    }
    const connected = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new ConnectTimeoutError(`ZeroRPC connect to ${key} timed out after ${connectTimeout} ms`, { endpoint: key })), connectTimeout);
      const events = options.curve !== undefined ? (['handshake'] as const) : (['connect'] as const);
      for (const e of events) {
        socket.events.on(e, () => {
          clearTimeout(timer);
          resolve();
        });
      }
      const refused = (what: string) => () => {
        clearTimeout(timer);
        reject(new ConnectError(`ZeroRPC CURVE handshake with ${key} ${what}`, { endpoint: key }));
      };
      socket.events.on('handshake:error:auth', refused('refused'));
      socket.events.on('handshake:error:protocol', refused('failed'));
    });
    socket.events.on('disconnect', () => session.fail(new ConnectionClosedError(`ZeroRPC server ${key} disconnected`, { endpoint: key })));
    try {
      socket.connect(zmqAddress(endpoint));
    } catch (err) {
      socket.close();
      throw new ConnectError(`cannot connect to ${key}: ${(err as Error).message}`, { endpoint: key, cause: err });
    }
    session.sock = new MessageSocket(
      socket,
      (_head, buf, start, end) => session.onMessage(buf, start, end),
      (err) => session.fail(new ConnectionClosedError(`ZeroRPC socket to ${key} failed${err ? `: ${err.message}` : ''}`, { endpoint: key, cause: err })),
      options.maxQueued ?? DEFAULT_MAX_QUEUED,
    );
    try {
      await connected;
    } catch (err) {
      session.sock.close();
      session.state = 'closed';
      throw err;
    }
    return session;
  }

  get status(): Status {
    return this.state;
  }

  /** Open channels: calls waiting for their first reply, and streams being read. */
  get load(): number {
    return this.channels.size;
  }

  call(req: ZeroCall, ctx: CallContext): Promise<unknown> {
    return callByDispatch(this, req, ctx);
  }

  dispatch(req: ZeroCall, ctx: CallContext, handler: ReplyHandler<unknown>): void {
    if (this.state === 'closed') return handler.onError(new ClosedError(`ZeroRPC session to ${this.endpoint} closed`, { endpoint: this.endpoint, unwritten: true }));
    if (ctx.cancelled !== undefined) return handler.onError(ctx.cancelled);
    const seq = this.ids.take();
    const extra = ctx.values === undefined ? req.header : { ...req.header, ...headerEntries(ctx.values) };
    try {
      const w = this.sock.startMessage(ENVELOPE);
      try {
        if (extra === undefined) writeRequest(w, this.ids, seq, req.method, req.args);
        else {
          const id = Buffer.allocUnsafe(32);
          this.ids.write(seq, id, 0);
          writeEvent(w, { ...extra, message_id: id, v: PROTOCOL_VERSION }, req.method, req.args);
        }
      } catch (err) {
        this.sock.cancelMessage();
        throw err;
      }
      this.sock.endMessage();
    } catch (err) {
      return handler.onError(
        // Not `unwritten`: the same arguments would fail on any server, a retry is pointless.
        err instanceof Error && 'code' in err ? err : new InvalidArgumentError(`cannot encode the arguments of ${req.method}: ${(err as Error).message}`, { cause: err }),
      );
    }
    const ch = new Channel(seq, handler, ctx);
    this.channels.set(ch);
    this.pending++;
    ctx.onCancel((reason) => this.abandon(ch, reason));
    this.ticker?.opened();
  }

  /** A message whose event is bytes [start, end) of `buf` (the envelope before it is not needed). */
  private onMessage(buf: Buffer, start: number, end: number): void {
    let name: string;
    let args: unknown;
    let seq: number;
    let result: boolean;
    try {
      const ev = this.reader.reply(buf, start, end, this.ids);
      name = ev.name;
      args = ev.args;
      seq = ev.seq;
      result = ev.result;
    } catch (err) {
      return this.drop(err as ScalesError);
    }
    const ch = this.channels.get(seq);
    if (ch === undefined) {
      // Heartbeats crossing a channel's end are normal; anything else is late (after a timeout) or unknown.
      if (name === HEARTBEAT || name === MORE) return;
      return this.drop(new ProtocolError(`ZeroRPC event '${name.slice(0, 64)}' for no open channel (late or unknown)`, { endpoint: this.endpoint }));
    }
    switch (name) {
      case HEARTBEAT:
      case MORE:
        ch.heardAt = turnNow();
        return;
      case OK:
        this.closeChannel(ch);
        return this.settle(ch, true, result || !Array.isArray(args) ? args : args[0]);
      case ERR:
        this.closeChannel(ch);
        return this.settle(ch, false, remoteError(args, this.endpoint));
      case STREAM:
        ch.heardAt = turnNow();
        return this.streamItem(ch, args);
      case STREAM_DONE:
        this.closeChannel(ch);
        if (ch.stream === undefined) this.startStream(ch);
        ch.stream?.finish();
        return;
      default:
        return this.drop(new ProtocolError(`unknown ZeroRPC event '${name.slice(0, 64)}'`, { endpoint: this.endpoint }));
    }
  }

  private streamItem(ch: Channel, item: unknown): void {
    if (ch.stream === undefined) this.startStream(ch);
    ch.stream?.push(item);
  }

  /** The first STREAM event settles the call with the stream; later ones feed it. */
  private startStream(ch: Channel): void {
    const stream = new ZeroStream(
      {
        grant: (n) => {
          if (this.channels.get(ch.seq) === ch) this.emit(ch.seq, MORE, [n]);
        },
        cancel: () => this.closeChannel(ch),
      },
      ch.ctx.signal,
    );
    ch.stream = stream;
    this.settle(ch, true, stream);
  }

  private settle(ch: Channel, ok: boolean, outcome: unknown): void {
    const h = ch.handler;
    if (h === undefined) {
      // ERR mid-stream: the stream's consumer gets it.
      if (!ok) ch.stream?.finish(outcome);
      return;
    }
    ch.handler = undefined;
    ch.ctx.onCancel(undefined);
    this.pending--;
    // The outcome's time for the layers above (the balancer's latency): one clock read per
    // socket read rather than one per reply.
    const at = turnNow();
    if (ok) h.onReply(outcome, at);
    else h.onError(outcome, at);
    this.checkIdle();
  }

  private emit(channel: number, name: string, args: unknown): void {
    try {
      const w = this.sock.startMessage(ENVELOPE);
      try {
        writeReply(w, this.ids, channel, name, args);
      } catch (err) {
        this.sock.cancelMessage();
        throw err;
      }
      this.sock.endMessage();
    } catch {
      // queue full or closed: a missed heartbeat or grant is made up at the next one
    }
  }

  /** Timeout or cancel: the caller has its error; forget the channel (late replies are dropped). */
  private abandon(ch: Channel, reason: ScalesError): void {
    this.closeChannel(ch);
    this.settle(ch, false, reason);
  }

  private lose(ch: Channel, err: ScalesError): void {
    this.closeChannel(ch);
    if (ch.handler !== undefined) this.settle(ch, false, err);
    else ch.stream?.finish(err);
  }

  private closeChannel(ch: Channel): void {
    if (!this.channels.delete(ch)) return;
    this.checkIdle();
  }

  private drop(err: ScalesError): void {
    this.dropped++;
    this.options.onError?.(err);
  }

  /** The socket is gone: every open channel fails, and the pool makes a new session. */
  private fail(err: ScalesError): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.ticker?.stop();
    this.sock?.close();
    for (const ch of this.channels.values()) this.lose(ch, err);
  }

  /**
   * Resolves once no call waits for its first reply. Streams already handed over do not count:
   * for the stack their calls are done, and `close` ends them.
   */
  whenIdle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private checkIdle(): void {
    if (this.pending === 0 && this.idle.length > 0) {
      const waiting = this.idle;
      this.idle = [];
      for (const w of waiting) w();
    }
  }

  /**
   * Graceful: no new calls; calls waiting for their first reply may finish. Streams already
   * handed to their consumers end now (ClosedError): a stream nobody reads would hold the close.
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const closed = new ClosedError(`ZeroRPC session to ${this.endpoint} closed`, { endpoint: this.endpoint });
    for (const ch of this.channels.values()) if (ch.handler === undefined) this.lose(ch, closed);
    await this.whenIdle();
    this.ticker?.stop();
    this.sock.close();
  }

  abort(): void {
    this.fail(new ClosedError(`ZeroRPC session to ${this.endpoint} closed`, { endpoint: this.endpoint }));
  }
}

/** `ERR [name, message, traceback]`, leniently (the Node port and v1 peers send less). */
export function remoteError(args: unknown, endpoint: string): RemoteError {
  const a = Array.isArray(args) ? args : [args];
  const text = (v: unknown): string => (typeof v === 'string' ? v : v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : v === undefined || v === null ? '' : String(v));
  return new RemoteError(text(a[0]) || 'RemoteError', text(a[1]), text(a[2]), { endpoint });
}
