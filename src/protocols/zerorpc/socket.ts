/**
 * A ZeroMQ socket as the ZeroRPC client and server use it: messages go out through one queue
 * (zeromq v6 allows a single `send` in flight per socket), arrive through one read loop, and the
 * zeromq module is loaded only when a ZeroRPC socket is first made (it is an optional peer
 * dependency of `scales-rpc/zerorpc`).
 */
import { ClosedError, InvalidArgumentError, OverloadedError } from '../../core/errors.js';
import type { Endpoint } from '../../discovery/endpoint.js';
import { isTcpEndpoint } from '../../discovery/endpoint.js';
import { PackWriter } from './msgpack.js';

export type Zmq = typeof import('zeromq');
export type ZmqSocket = import('zeromq').Dealer | import('zeromq').Router;
/** Any socket a MessageSocket drives: it sends only if the socket can, reads only if asked to. */
type AnySocket = ZmqSocket | import('zeromq').Push | import('zeromq').Publisher | import('zeromq').Pull | import('zeromq').Subscriber;

let loaded: Promise<Zmq> | undefined;

/** The zeromq module (npm `zeromq@6`), loaded once. */
export function loadZmq(): Promise<Zmq> {
  loaded ??= import('zeromq').catch((err: unknown) => {
    loaded = undefined;
    throw new InvalidArgumentError('scales-rpc/zerorpc needs the npm package zeromq@6: npm install zeromq', { cause: err });
  });
  return loaded;
}

/** ZeroMQ's address of an endpoint: `tcp://host:port`, or the URI as it is (`ipc://...`). */
export function zmqAddress(e: Endpoint): string {
  if (isTcpEndpoint(e)) return `tcp://${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
  return e.uri;
}

/**
 * What the ZeroRPC client and server write to: a zeromq socket (MessageSocket) or our own ZMTP
 * DEALER/ROUTER. `sendMessage` queues one multipart message and throws OverloadedError (nothing
 * sent) when the queue is full, ClosedError once closed.
 */
export interface FrameSocket {
  readonly closed: boolean;
  /**
   * Starts a message: `head`'s frames (not kept: copied, or kept as they are: never change them
   * after), then the last frame's bytes written to the returned writer (append; never `start()`
   * it: ours writes straight into its outgoing buffer). `endMessage` queues the message,
   * `cancelMessage` drops it (its encoding threw); one of them comes before anything else is
   * sent. Throws OverloadedError (queue full) or ClosedError as `send` does.
   */
  startMessage(head: readonly Uint8Array[]): PackWriter;
  endMessage(): void;
  cancelMessage(): void;
  close(): void;
}

/** What a FrameSocket hands up: a message's frames but the last, and the last as bytes [start, end) of `buf`. */
export type MessageHandler = (head: Buffer[], buf: Buffer, start: number, end: number) => void;

/**
 * `zmtp`: this package's ZMTP 3.1 over node:net (tcp:// without CURVE; the default there);
 * `zeromq`: the npm zeromq binding (CURVE, ipc://, inproc://, and servers that connect).
 */
export type ZeroTransport = 'zmtp' | 'zeromq';

/** Default bound of messages queued for sending on one socket before sends are refused. */
export const DEFAULT_MAX_QUEUED = 10_000;

/**
 * One socket's outgoing queue and incoming loop. `onMessage` gets every multipart message;
 * `onEnd` once, when the socket stops (closed by us, or failed).
 */
export class MessageSocket implements FrameSocket {
  private queue: (readonly Uint8Array[] | undefined)[] = [];
  private head = 0;
  private writing = false;
  closed = false;

  constructor(
    readonly socket: AnySocket,
    private readonly onMessage: MessageHandler,
    private readonly onEnd: (err: Error | undefined) => void,
    private readonly maxQueued: number = DEFAULT_MAX_QUEUED,
    /** False for send-only sockets (PUSH, PUB), which cannot be read. */
    readable = true,
  ) {
    if (readable) void this.read();
  }

  /** Messages waiting to be sent. */
  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Queues one multipart message. Throws OverloadedError (nothing sent) when the queue is full. */
  send(frames: readonly Uint8Array[]): void {
    if (this.closed) throw new ClosedError('ZeroMQ socket closed', { unwritten: true });
    if (this.queue.length - this.head >= this.maxQueued) throw new OverloadedError(`ZeroMQ send queue full (${this.maxQueued} messages)`);
    this.queue.push([...frames]); // callers may reuse their array
    if (!this.writing) void this.pump();
  }

  startMessage(head: readonly Uint8Array[]): PackWriter {
    if (this.closed) throw new ClosedError('ZeroMQ socket closed', { unwritten: true });
    if (this.queue.length - this.head >= this.maxQueued) throw new OverloadedError(`ZeroMQ send queue full (${this.maxQueued} messages)`);
    this.started = head;
    this.w.start();
    return this.w;
  }

  endMessage(): void {
    const head = this.started;
    this.started = undefined;
    if (head === undefined) throw new InvalidArgumentError('no ZeroRPC message is being encoded on this socket');
    // The binding keeps every frame until sent: the last one is copied out of the writer.
    this.queue.push([...head, this.w.take()]);
    if (!this.writing) void this.pump();
  }

  cancelMessage(): void {
    this.started = undefined;
  }
  private started: readonly Uint8Array[] | undefined = undefined;
  private readonly w = new PackWriter();

  private async pump(): Promise<void> {
    this.writing = true;
    try {
      while (this.head < this.queue.length) {
        const m = this.queue[this.head]!;
        this.queue[this.head++] = undefined;
        await (this.socket as ZmqSocket).send(m as Uint8Array[]);
      }
    } catch (err) {
      if (!this.closed) this.end(err as Error);
    } finally {
      this.queue = [];
      this.head = 0;
      this.writing = false;
    }
  }

  private async read(): Promise<void> {
    try {
      for await (const frames of this.socket as ZmqSocket) {
        if (this.closed) break;
        const last = frames.pop() ?? Buffer.alloc(0);
        this.onMessage(frames, last, 0, last.length);
      }
      this.end(undefined);
    } catch (err) {
      this.end(this.closed ? undefined : (err as Error));
    }
  }

  private end(err: Error | undefined): void {
    if (this.closed) return;
    this.close();
    this.onEnd(err);
  }

  /** Closes the socket at once (linger 0: queued messages are dropped). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
