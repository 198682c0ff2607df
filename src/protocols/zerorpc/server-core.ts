/**
 * The ZeroRPC server's socket side: one ROUTER, its open channels (keyed by the peer's identity
 * and the request's message id), their heartbeats and credit, and the stream pump. It is the
 * `Out` the server codec writes to; `ZeroServerSession` connects it to the server dispatcher.
 */
import { turnNow } from '../../core/clock.js';
import { ClosedError, ConnectionClosedError, ProtocolError, ScalesError } from '../../core/errors.js';
import type { ServerRequestContext } from '../../server/context.js';
import type { ServerDispatcher } from '../../server/dispatcher.js';
import { report, type ErrorHook } from '../../server/safe.js';
import { ServerSession } from '../../server/session.js';
import { UnknownMethod } from '../../server/codec.js';
import { LostRemoteError } from './errors.js';
import { type ChannelRef, ERR, EventReader, HEARTBEAT, MessageIds, OK, type ServerEvent, STREAM, STREAM_DONE, writeReplyBody, writeReplyHead, ReplyHeads, type MessageId } from './events.js';
import { ChannelKeys, type PeerIds } from './channel-keys.js';
import { HeartbeatTicker } from './heartbeat.js';
import type { PackWriter } from './msgpack.js';
import type { FrameSocket } from './socket.js';
import type { ZeroInbound, ZeroRequest, ZeroServerCodec } from './server-codec.js';
import type { ContextValues } from '../../core/context-key.js';

/**
 * One open channel: a request being served or a stream being sent. It is also the request the
 * server stack serves (one object per call, not two).
 */
export class ServerChannel implements ZeroRequest {
  /**
   * `performance.now()` of the remote's last sign, set when the channel is tracked (a call
   * answered at once never reads it). Not a number from the start: a field that always holds a
   * double gets a box of its own per object.
   */
  heardAt: number | undefined = undefined;
  /** In the channel table: the call outlived its synchronous dispatch. */
  tracked = false;
  /** Events we may still send: one free (the first reply), then what `_zpc_more` grants. */
  credit = 1;
  closed = false;
  /** The request's context, once its handler ran (aborted when the remote is lost). */
  ctx: ServerRequestContext<ZeroRequest> | undefined = undefined;
  private waiter: (() => void) | undefined = undefined;
  // The request (ZeroRequest), set by the codec once the channel is open.
  method = '';
  args: unknown[] = NO_ARGS;
  readonly oneway = false;
  readonly deadline = undefined;
  values: ContextValues | undefined = undefined;

  constructor(
    readonly key: string | number,
    readonly peer: PeerIds,
    /** The request's envelope (the peer's identity, the delimiter): every event on the channel goes out after it. */
    readonly envelope: Buffer[],
    /** The request's id; a number: the counter of a hex-shaped id with the peer's tail (`peer.tail`). */
    readonly id: ChannelRef,
  ) {}

  /** The request's channel: this. */
  get channel(): ServerChannel {
    return this;
  }

  get lastRemote(): number {
    return this.heardAt ?? 0;
  }

  heard(): void {
    this.heardAt = turnNow();
  }

  /** `_zpc_more [n]`: adds n (Python's rule; the Node port sets it, which only ever grants less). */
  grant(n: unknown): void {
    const k = typeof n === 'number' && Number.isFinite(n) ? Math.max(0, Math.min(Math.trunc(n), 1_000_000)) : 1;
    this.credit = Math.min(this.credit + k, 1_000_000);
    this.wake();
  }

  /** Resolves once one event may be sent (or the channel closed). */
  sendable(): Promise<void> | undefined {
    if (this.credit > 0 || this.closed) return undefined;
    return new Promise((resolve) => (this.waiter = resolve));
  }

  wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}

/** A channel's args before the codec sets them (never handed to a handler). */
const NO_ARGS: unknown[] = [];

type AnyIterator = AsyncIterator<unknown> | Iterator<unknown>;

export interface ZeroServerCoreOptions {
  readonly heartbeat: number | false;
  readonly maxMessageSize: number;
  readonly onError: ErrorHook | undefined;
  readonly isStreamMethod: (method: string) => boolean;
  /** Open channels (calls and streams) at most; more are refused with OverloadedError. */
  readonly maxChannels: number;
  /** An exception as ERR arguments (the codec's: name, message, traceback). */
  readonly errArgs: (err: unknown) => [string, string, string];
}

export class ZeroServerCore {
  readonly channels = new Map<string | number, ServerChannel>();
  private readonly keys = new ChannelKeys();
  private readonly reader: EventReader;
  private readonly ids = new MessageIds();
  private readonly ticker: HeartbeatTicker<ServerChannel> | undefined;
  sock!: FrameSocket;
  /** Events dropped (malformed, unknown channel), channels lost to a silent remote, streams, connections refused. */
  readonly counts = { dropped: 0, lost: 0, streams: 0, refused: 0 };
  private idle: (() => void)[] = [];

  constructor(private readonly o: ZeroServerCoreOptions) {
    this.reader = new EventReader(o.maxMessageSize);
    const hb = o.heartbeat;
    this.ticker =
      hb === false
        ? undefined
        : new HeartbeatTicker<ServerChannel>(
            hb,
            () => this.channels.values(),
            (ch) => this.send(ch, HEARTBEAT, [0]),
            (ch) => this.lose(ch, new LostRemoteError(hb)),
          );
  }

  /** The event in bytes [start, end) of `buf` (one reused object); a request's args array has a last slot for the request context. */
  read(buf: Buffer, start: number, end: number): ServerEvent {
    return this.reader.request(buf, start, end);
  }

  /**
   * The request id whose 32 bytes are at `buf[at]`, from the peer `identity`: its counter when
   * hex-shaped with the peer's tail (no view made; answers write it back from the two), else a view.
   */
  idAt(identity: Buffer, buf: Buffer, at: number): ChannelRef {
    const seq = this.keys.seqAt(this.keys.peer(identity), buf, at);
    return seq >= 0 ? seq : buf.subarray(at, at + 32);
  }

  channel(identity: Buffer, id: MessageId): ServerChannel | undefined {
    return this.channels.get(this.keys.key(this.keys.peer(identity), id));
  }

  /**
   * A new request's channel; undefined when one with its id is open already, 'full' at
   * `maxChannels`. `envelope` becomes the channel's: its answers go out after it. It enters the channel table only if the
   * call outlives its synchronous dispatch (`track`): a call answered at once never touches it
   * (a Map emptied and filled again per call reallocates its table both times: ~1 µs a call).
   */
  open(envelope: Buffer[], id: ChannelRef): ServerChannel | undefined | 'full' {
    const peer = this.keys.peer(envelope[0]!);
    const key = this.keys.key(peer, id);
    if (this.channels.has(key)) return undefined;
    if (this.channels.size >= this.o.maxChannels) return 'full';
    return new ServerChannel(key, peer, envelope, id);
  }

  /** After the request's dispatch returned: a channel still open (a pending call, a stream) is tracked. */
  track(ch: ServerChannel): void {
    if (ch.closed || ch.tracked) return;
    ch.tracked = true;
    ch.heardAt = turnNow();
    this.channels.set(ch.key, ch);
    ch.peer.open++;
    this.ticker?.opened();
  }

  dropped(err: ScalesError): void {
    this.counts.dropped++;
    report(this.o.onError, err, 'ZeroRPC input');
  }

  isStream(method: string, value: unknown): boolean {
    if (this.o.isStreamMethod(method)) return true;
    return value !== null && typeof value === 'object' && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
  }

  /** One event on the channel (no credit check: heartbeats, or callers that checked). Throws when encoding fails. */
  send(ch: ServerChannel, name: string, args: unknown): void {
    this.out(ch.envelope, ch.id, name, args, ch.peer);
  }

  /**
   * Queues the event `name args` on channel `id` after `envelope`, encoded straight into the
   * socket's buffer. Throws (nothing sent) when a value cannot be encoded. A full queue (peers
   * not reading, ZeroMQ slower than the handlers) drops the message and counts it rather than
   * throwing: one slow peer must not close the socket for all.
   */
  private out(envelope: Buffer[], id: ChannelRef, name: string, args: unknown, peer: PeerIds | undefined, one = false): void {
    const sock = this.sock;
    let w: PackWriter;
    try {
      w = sock.startMessage(envelope);
    } catch (err) {
      this.counts.dropped++;
      report(this.o.onError, err, 'ZeroRPC answer');
      return;
    }
    try {
      const tail = peer?.tail;
      const heads = tail === undefined ? undefined : (peer!.heads ??= new ReplyHeads(this.ids, tail));
      writeReplyHead(w, this.ids, id, tail, heads);
      writeReplyBody(w, name, args, one);
    } catch (err) {
      sock.cancelMessage();
      throw err;
    }
    sock.endMessage();
  }

  /** An answer outside any channel (unknown method, malformed arguments). */
  sendOnce(envelope: Buffer[], id: ChannelRef, name: string, args: unknown): void {
    this.out(envelope, id, name, args, typeof id === 'number' ? this.keys.peer(envelope[0]!) : undefined);
  }

  /**
   * The channel's last event (OK, ERR, STREAM_DONE): it uses the free credit of a first reply, so
   * it is never held back. Encoding failures throw before anything is sent (the dispatcher then
   * answers an internal error instead).
   */
  final(ch: ServerChannel, name: string, args: unknown): void {
    if (ch.closed) return;
    this.out(ch.envelope, ch.id, name, args, ch.peer);
    this.close(ch);
  }

  /** `OK [value]`, the call's result, as `final` (written without the array). */
  result(ch: ServerChannel, value: unknown): void {
    if (ch.closed) return;
    this.out(ch.envelope, ch.id, OK, value, ch.peer, true);
    this.close(ch);
  }

  /** Sends the iterable's items as STREAM events, each waiting for credit, then STREAM_DONE (or ERR). */
  startStream(ch: ServerChannel, value: unknown): void {
    this.counts.streams++;
    let it: AnyIterator;
    try {
      const v = value as AsyncIterable<unknown> & Iterable<unknown>;
      if (v !== null && typeof v === 'object' && typeof v[Symbol.asyncIterator] === 'function') it = v[Symbol.asyncIterator]();
      else if (v !== null && typeof v === 'object' && typeof v[Symbol.iterator] === 'function') it = v[Symbol.iterator]();
      else throw new TypeError('a stream method must return an iterable');
    } catch (err) {
      this.final(ch, ERR, ['TypeError', (err as Error).message, '']);
      return;
    }
    void this.pump(ch, it);
  }

  private async pump(ch: ServerChannel, it: AnyIterator): Promise<void> {
    try {
      for (;;) {
        const r = await it.next();
        if (ch.closed) break;
        if (r.done === true) {
          await ch.sendable();
          if (!ch.closed) this.final(ch, STREAM_DONE, null);
          return;
        }
        await ch.sendable();
        if (ch.closed) break;
        ch.credit--;
        this.send(ch, STREAM, r.value);
      }
    } catch (err) {
      if (ch.closed) return;
      await ch.sendable();
      if (ch.closed) return;
      try {
        this.final(ch, ERR, this.o.errArgs(err));
      } catch (again) {
        report(this.o.onError, again, 'ZeroRPC stream error answer');
        this.close(ch);
      }
      return;
    }
    // The channel closed under the stream (lost remote, shutdown): stop the producer.
    try {
      await it.return?.();
    } catch (err) {
      report(this.o.onError, err, 'closing a ZeroRPC stream');
    }
  }

  /** The remote stopped heartbeating: cancel the task and send nothing (as Python does). */
  lose(ch: ServerChannel, err: ScalesError): void {
    if (ch.closed) return;
    this.counts.lost++;
    this.close(ch);
    ch.ctx?.abort(err);
  }

  close(ch: ServerChannel): void {
    if (ch.closed) return;
    ch.closed = true;
    if (ch.tracked) {
      this.channels.delete(ch.key);
      ch.peer.open--;
    }
    ch.wake();
    if (this.channels.size === 0 && this.idle.length > 0) {
      const w = this.idle;
      this.idle = [];
      for (const f of w) f();
    }
  }

  whenIdle(): Promise<void> {
    if (this.channels.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Every channel ends now (shutdown): handlers and streams are aborted with `err`. */
  closeAll(err: ScalesError): void {
    for (const ch of [...this.channels.values()]) {
      this.close(ch);
      ch.ctx?.abort(err);
    }
    this.ticker?.stop();
  }
}

/**
 * The server dispatcher's view of the ROUTER socket: one session for every peer (ZeroMQ hides
 * connections; peers are told apart by identity inside the codec). Bad input is dropped and
 * reported, never closing the socket: other peers keep being served.
 */
export class ZeroServerSession extends ServerSession<ZeroServerCore, ZeroRequest> {
  private draining: Promise<void> | undefined;
  /** The message being decoded (one object: the codec reads it at once). */
  private readonly inbound: ZeroInbound = { head: [], buf: Buffer.alloc(0), start: 0, end: 0 };

  constructor(
    dispatcher: ServerDispatcher<ZeroServerCore, ZeroRequest>,
    core: ZeroServerCore,
    peer: string,
    private readonly codec: ZeroServerCodec,
  ) {
    super(dispatcher, core, peer);
    dispatcher.add(this);
  }

  get closed(): boolean {
    return this.out.sock.closed;
  }

  /** A message from the ROUTER: `[identity, ...]` frames but the last, and the event as bytes [start, end) of `buf`. */
  receive(head: Buffer[], buf: Buffer, start: number, end: number): void {
    const m = this.inbound;
    m.head = head;
    m.buf = buf;
    m.start = start;
    m.end = end;
    let r: ZeroRequest | UnknownMethod | undefined;
    try {
      r = this.codec.decode(m, this.out);
    } catch (err) {
      this.out.dropped(err instanceof ScalesError ? err : new ProtocolError(`bad ZeroRPC message: ${(err as Error).message}`, { cause: err }));
      return;
    }
    if (r === undefined) return;
    if (r instanceof UnknownMethod) return this.answerUnknown(r);
    if (this.draining !== undefined) {
      try {
        this.codec.writeOverloaded(this.out, r, 'server shutting down');
      } catch (err) {
        report(this.dispatcher.onError, err, 'ZeroRPC shutdown answer');
      }
      return;
    }
    // The read that brought it: one clock read per socket read, not per request.
    this.serve(r, turnNow());
    this.out.track(r.channel);
  }

  close(err?: ScalesError): void {
    this.out.closeAll(err ?? new ClosedError('ZeroRPC server closed'));
    this.out.sock.close();
    this.dispatcher.remove(this);
  }

  drain(): Promise<void> {
    this.draining ??= this.out.whenIdle().then(() => this.close());
    return this.draining;
  }

  protected settled(): void {}

  /** The socket failed under us. */
  failed(err: Error | undefined): void {
    const reason = new ConnectionClosedError(`ZeroRPC server socket failed${err ? `: ${err.message}` : ''}`, { cause: err });
    report(this.dispatcher.onError, reason, 'ZeroRPC server');
    this.abortAll(reason);
    this.close(reason);
  }
}
