/**
 * One ZMTP 3.1 connection over a node:net socket, NULL mechanism: greeting and READY handshake
 * (under a timeout), frames in and out, PING answered. Reads are zero-copy where a frame is whole
 * in what arrived (a message's last frame is handed up as a range of the bytes read, not even a
 * view: each Buffer view costs ~70 ns and ~100 bytes of garbage); writes are gathered into one
 * buffer and written once per event-loop turn or every 50 messages, so that two processes work
 * at once on batches of about 50.
 * Every limit breach or malformed byte closes this connection with a typed error, nothing else.
 */
import type { Socket } from 'node:net';
import { ClosedError, ConnectionClosedError, FrameTooLargeError, InvalidArgumentError, OverloadedError, ProtocolError, type ScalesError } from '../../../core/errors.js';
import { PackWriter } from '../msgpack.js';
import { checkGreetingPrefix, commandFrame, compatible, FLAG_COMMAND, FLAG_LONG, FLAG_MORE, GREETING_SIZE, greeting, greetingMechanism, parseCommand, parseMetadata, readyCommand } from './wire.js';

export interface ZmtpLimits {
  /** Largest message accepted, all frames together, bytes. */
  readonly maxMessageSize: number;
  /** Frames in one message at most. */
  readonly maxFrames: number;
  /** Until the peer's READY, ms. */
  readonly handshakeTimeout: number;
  /** Messages waiting to be written before `send` throws OverloadedError. */
  readonly maxQueued: number;
}

/** Defaults: 16 MiB messages (ZeroRPC's), 64 frames, 10 s handshake, 10,000 queued messages. */
export const DEFAULT_ZMTP_LIMITS: ZmtpLimits = { maxMessageSize: 16 * 1024 * 1024, maxFrames: 64, handshakeTimeout: 10_000, maxQueued: 10_000 };

/** Largest command accepted (READY metadata, PING): commands are tiny; a big one is hostile. */
export const MAX_COMMAND_SIZE = 64 * 1024;

export interface ZmtpPeer {
  readonly socketType: string;
  /** The Identity property of the peer's READY (empty when none). */
  readonly identity: Buffer;
}

export interface ZmtpEvents {
  ready(peer: ZmtpPeer): void;
  /**
   * One message: its frames but the last (`head`: the connection's `prefix` first if set, then
   * views of what arrived, empty frames all one shared buffer), and the last frame as bytes
   * [start, end) of `buf`. `head` is the handler's to keep but never to change (the usual
   * envelope, the prefix and one empty frame, is one array for every message); `buf` is never
   * reused by the connection.
   */
  message(head: Buffer[], buf: Buffer, start: number, end: number): void;
  /** Once: `err` undefined when we closed it. */
  end(err: ScalesError | undefined): void;
}

const GREETING = greeting();
/** Every empty frame read (the envelope's delimiter in each ZeroRPC message): no view made for it. */
const EMPTY = Buffer.alloc(0);

enum State {
  Greeting,
  Handshake,
  Open,
  Closed,
}

/** Write buffer slab: gathered writes come out of it, one fresh slab when it runs short. */
const SLAB = 64 * 1024;
/**
 * Messages gathered that are written at once rather than at the end of the loop turn, so the
 * peer starts on them while we make the rest: batches of about 50 messages circulate between
 * two processes (docs/zerorpc.md, "Performance", round 3: a count, not 4 KiB; a read split as
 * ThriftMux's added nothing to it and cost streams).
 */
const EAGER_MESSAGES = 50;
/** Bytes gathered that are written at once whatever their count (big messages). */
const EAGER_BYTES = 64 * 1024;
/** Free slab bytes a message starts with (a fresh slab below that); more makes the writer grow it. */
const ROOM = 4096;
/** Bodies from this size on are written as their own chunk rather than copied into the slab. */
const COPY_LIMIT = 16 * 1024;
/** First buffer of an incomplete frame (it doubles as more arrives, up to the frame's size). */
const INITIAL_PARTIAL = 64 * 1024;

export class ZmtpConnection {
  private state = State.Greeting;
  private readonly peerGreeting = Buffer.alloc(GREETING_SIZE);
  private greetingRead = 0;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** Bytes of an incomplete frame header or small frame, waiting for more. */
  private head: Buffer | undefined;
  /** An incomplete frame's body being filled: bytes arrived, bytes it has. */
  private body: Buffer | undefined;
  private bodyFill = 0;
  private bodyNeed = 0;
  private bodyFlags = 0;
  /** Frames of the message being received but its last (a scratch array: `head` arrays are made to size). */
  private readonly parts: Buffer[] = [];
  private partCount = 0;
  private partsBytes = 0;
  /** A frame put before the frames of every message handed up (the router's identity for this peer). */
  prefix: Buffer | undefined = undefined;
  /** The head of every message of one empty frame after the prefix (see takeHead). */
  private envelope: Buffer[] | undefined = undefined;

  private slab: Buffer = Buffer.allocUnsafe(SLAB);
  private slabUsed = 0;
  /** The writer `startMessage` lends, over the slab; `bodyAt`: where its message's last frame starts (-1: none open). */
  private readonly enc = new PackWriter(0);
  private bodyAt = -1;
  private chunks: Buffer[] = [];
  private chunksBytes = 0;
  private queuedMessages = 0;
  private flushScheduled = false;
  private blocked = false;
  private pong: Buffer | undefined;

  constructor(
    readonly socket: Socket,
    private readonly socketType: string,
    private readonly limits: ZmtpLimits,
    private readonly events: ZmtpEvents,
    /** Properties sent in our READY besides Socket-Type. */
    private readonly metadata: Readonly<Record<string, Buffer | string>> = {},
  ) {
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => this.onData(b));
    socket.on('drain', () => {
      this.blocked = false;
      if (this.chunksBytes > 0 || this.slabUsed > 0) this.scheduleFlush();
    });
    socket.on('error', (err) => this.fail(new ConnectionClosedError(`ZMTP connection failed: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new ConnectionClosedError('ZMTP peer closed the connection')));
    this.handshakeTimer = setTimeout(() => this.fail(new ProtocolError(`ZMTP handshake not done after ${limits.handshakeTimeout} ms`)), limits.handshakeTimeout);
    this.handshakeTimer.unref?.();
    // As libzmq: signature and major version first, the rest once the peer's have arrived. A
    // libzmq peer that reads a whole greeting with another mechanism closes before sending its
    // own, and we could not say why.
    socket.write(GREETING.subarray(0, 11));
  }

  get closed(): boolean {
    return this.state === State.Closed;
  }

  get open(): boolean {
    return this.state === State.Open;
  }

  /** Messages waiting to be written. */
  get queued(): number {
    return this.queuedMessages;
  }

  /**
   * Queues one multipart message (`frames` from `start`), written at the end of this event-loop
   * turn. Small frames are copied now; big ones (16 KiB and more) are kept until written.
   */
  send(frames: readonly Uint8Array[], start = 0): void {
    if (this.state === State.Closed) throw new ClosedError('ZMTP connection closed', { unwritten: true });
    if (this.queuedMessages >= this.limits.maxQueued) throw new OverloadedError(`ZMTP send queue full (${this.limits.maxQueued} messages)`);
    const last = frames.length - 1;
    if (this.bodyAt >= 0) throw new InvalidArgumentError('a ZeroRPC message is being encoded on this connection already');
    for (let i = start; i <= last; i++) this.frame(i < last ? FLAG_MORE : 0, frames[i]!);
    this.queued1();
  }

  /**
   * Starts a message: the frames of `head` from `start` (small ones: identities, delimiters),
   * then its last frame is encoded straight into the write slab through the returned writer
   * (append to it; never `start()` it): no copy, no view. `endMessage` queues it, `cancelMessage`
   * drops it; one of them must come before anything else is sent here.
   */
  startMessage(head: readonly Uint8Array[], start: number): PackWriter {
    if (this.bodyAt >= 0) throw new InvalidArgumentError('a ZeroRPC message is being encoded on this connection already (a getter of a value being sent sends too?)');
    if (this.state === State.Closed) throw new ClosedError('ZMTP connection closed', { unwritten: true });
    if (this.queuedMessages >= this.limits.maxQueued) throw new OverloadedError(`ZMTP send queue full (${this.limits.maxQueued} messages)`);
    if (this.slab.length - this.slabUsed < ROOM) this.newSlab(ROOM);
    const s = this.slab;
    let o = this.slabUsed;
    for (let i = start; i < head.length; i++) {
      const f = head[i]!;
      if (f.length > 255) throw new InvalidArgumentError('ZMTP envelope frames are 255 bytes at most');
      s[o] = FLAG_MORE;
      s[o + 1] = f.length;
      s.set(f, o + 2);
      o += 2 + f.length;
    }
    // Room for a short frame's header; a long one moves the body 7 bytes on (endMessage).
    this.bodyAt = o + 2;
    const w = this.enc;
    w.buf = s;
    w.pos = o + 2;
    return w;
  }

  /** Queues the message `startMessage` began. */
  endMessage(): void {
    const at = this.bodyAt;
    if (at < 0) throw new InvalidArgumentError('no ZeroRPC message is being encoded on this connection');
    this.bodyAt = -1;
    const w = this.enc;
    // Grown past the slab (a big event): the writer's new buffer holds the slab's queued bytes too.
    this.slab = w.buf;
    const size = w.pos - at;
    if (size < 256) {
      w.buf[at - 2] = 0;
      w.buf[at - 1] = size;
    } else {
      w.ensure(7);
      const b = w.buf;
      this.slab = b;
      b.copyWithin(at + 7, at, at + size);
      b[at - 2] = FLAG_LONG;
      b.writeUInt32BE(Math.floor(size / 0x1_0000_0000), at - 1);
      b.writeUInt32BE(size >>> 0, at + 3);
      w.pos += 7;
    }
    this.slabUsed = w.pos;
    // A slab grown for a big event is let go once written.
    if (this.slab.length > SLAB) this.newSlab(0);
    this.queued1();
  }

  /** Drops the message `startMessage` began (its encoding failed): nothing of it is sent. */
  cancelMessage(): void {
    this.bodyAt = -1;
  }

  private queued1(): void {
    this.queuedMessages++;
    // Enough gathered: write now, so the peer starts on it while we make the rest.
    if ((this.queuedMessages >= EAGER_MESSAGES || this.slabUsed + this.chunksBytes >= EAGER_BYTES) && !this.blocked && this.state === State.Open) this.flush();
    else this.scheduleFlush();
  }

  /** Closes at once; queued messages are dropped (as linger 0). */
  close(): void {
    if (this.state === State.Closed) return;
    this.end(undefined);
    this.socket.destroy();
  }

  // ---- writing ---------------------------------------------------------------------------------

  /** Frame `body`; a big one is kept as its own chunk. */
  private frame(flags: number, body: Uint8Array): void {
    const size = body.length;
    const big = size >= COPY_LIMIT;
    const need = (size < 256 ? 2 : 9) + (big ? 0 : size);
    if (this.slab.length - this.slabUsed < need) this.newSlab(need);
    const s = this.slab;
    let o = this.slabUsed;
    if (size < 256) {
      s[o++] = flags;
      s[o++] = size;
    } else {
      s[o++] = flags | FLAG_LONG;
      s.writeUInt32BE(Math.floor(size / 0x1_0000_0000), o);
      s.writeUInt32BE(size >>> 0, o + 4);
      o += 8;
    }
    if (big) {
      this.slabUsed = o;
      this.cutSlab();
      this.chunks.push(Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.length));
      this.chunksBytes += size;
      return;
    }
    if (size > 0) s.set(body, o);
    this.slabUsed = o + size;
  }

  /** Moves the slab's used part to the chunk list; the rest of the slab stays for later frames. */
  private cutSlab(): void {
    if (this.slabUsed === 0) return;
    const used = this.slab.subarray(0, this.slabUsed);
    this.chunks.push(used);
    this.chunksBytes += used.length;
    this.slab = this.slab.subarray(this.slabUsed);
    this.slabUsed = 0;
  }

  private newSlab(need: number): void {
    this.cutSlab();
    this.slab = Buffer.allocUnsafe(Math.max(SLAB, need));
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.blocked) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    // Messages queued before the handshake wait for it (our READY must go first).
    if (this.state !== State.Open) return;
    if (this.pong !== undefined) {
      const p = this.pong;
      this.pong = undefined;
      // Commands go between messages: the slab holds whole messages only.
      const f = commandFrame('PONG', p);
      if (this.slab.length - this.slabUsed < f.length) this.newSlab(f.length);
      f.copy(this.slab, this.slabUsed);
      this.slabUsed += f.length;
    }
    this.cutSlab();
    const chunks = this.chunks;
    if (chunks.length === 0) return;
    this.chunks = [];
    this.chunksBytes = 0;
    this.queuedMessages = 0;
    let ok = true;
    if (chunks.length === 1) ok = this.socket.write(chunks[0]!);
    else {
      this.socket.cork();
      for (const c of chunks) ok = this.socket.write(c);
      this.socket.uncork();
    }
    // The kernel is full: gather until 'drain' (bounded by maxQueued messages).
    if (!ok) this.blocked = true;
  }

  // ---- reading ---------------------------------------------------------------------------------

  private onData(b: Buffer): void {
    if (this.state === State.Closed) return;
    try {
      if (this.state === State.Greeting) {
        b = this.readGreeting(b);
        if (b.length === 0) return;
      }
      this.readFrames(b);
    } catch (err) {
      this.fail(err as ScalesError);
    }
  }

  /** Takes the greeting's bytes from `b`; returns what follows it. */
  private readGreeting(b: Buffer): Buffer {
    const n = Math.min(GREETING_SIZE - this.greetingRead, b.length);
    const had = this.greetingRead;
    b.copy(this.peerGreeting, had, 0, n);
    this.greetingRead += n;
    checkGreetingPrefix(this.peerGreeting, this.greetingRead);
    if (had < 11 && this.greetingRead >= 11) this.socket.write(GREETING.subarray(11));
    if (this.greetingRead < GREETING_SIZE) return b.subarray(b.length);
    const mechanism = greetingMechanism(this.peerGreeting);
    if (mechanism !== 'NULL') {
      throw new ProtocolError(`ZMTP peer wants the ${mechanism.slice(0, 20)} security mechanism; this end speaks NULL (CURVE needs the curve option, which uses the zeromq transport)`);
    }
    this.state = State.Handshake;
    this.socket.write(readyCommand({ 'Socket-Type': this.socketType, ...this.metadata }));
    return b.subarray(n);
  }

  /**
   * Appends to the incomplete frame's buffer, growing it by doubling up to the frame's size:
   * memory follows what arrived, not what the size field claims, and a trickling peer costs
   * amortised linear copying.
   */
  private fillBody(src: Buffer, from: number, n: number): void {
    let body = this.body!;
    if (this.bodyFill + n > body.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.bodyNeed, Math.max(body.length * 2, this.bodyFill + n)));
      body.copy(grown, 0, 0, this.bodyFill);
      this.body = body = grown;
    }
    src.copy(body, this.bodyFill, from, from + n);
    this.bodyFill += n;
  }

  private readFrames(b: Buffer): void {
    let off = 0;
    if (this.body !== undefined) {
      const n = Math.min(this.bodyNeed - this.bodyFill, b.length);
      this.fillBody(b, 0, n);
      if (this.bodyFill < this.bodyNeed) return;
      const body = this.body;
      this.body = undefined;
      this.onFrame(this.bodyFlags, body, 0, body.length);
      off = n;
    }
    if (this.head !== undefined) {
      b = Buffer.concat([this.head, b.subarray(off)]);
      off = 0;
      this.head = undefined;
    }
    const len = b.length;
    while (off < len && this.state !== State.Closed) {
      const left = len - off;
      if (left < 2) break;
      const flags = b[off]!;
      if ((flags & 0xf8) !== 0) throw new ProtocolError(`bad ZMTP frame flags 0x${flags.toString(16)}`);
      let hdr = 2;
      let size: number;
      if ((flags & FLAG_LONG) !== 0) {
        if (left < 9) break;
        hdr = 9;
        const hi = b.readUInt32BE(off + 1);
        const lo = b.readUInt32BE(off + 5);
        size = hi * 0x1_0000_0000 + lo;
      } else size = b[off + 1]!;
      this.checkSize(flags, size);
      if (left < hdr + size) {
        // An incomplete frame: a buffer of its own, filled as the rest arrives.
        const have = left - hdr;
        this.body = Buffer.allocUnsafe(Math.min(size, Math.max(INITIAL_PARTIAL, have)));
        this.bodyFill = 0;
        this.bodyNeed = size;
        this.bodyFlags = flags;
        this.fillBody(b, off + hdr, have);
        return;
      }
      const start = off + hdr;
      off = start + size;
      this.onFrame(flags, b, start, off);
    }
    // Only an incomplete header (under 9 bytes) is left here.
    if (off < len && this.state !== State.Closed) this.head = Buffer.from(b.subarray(off));
  }

  private checkSize(flags: number, size: number): void {
    if ((flags & FLAG_COMMAND) !== 0) {
      if (size > MAX_COMMAND_SIZE) throw new ProtocolError(`ZMTP command of ${size} bytes exceeds the limit of ${MAX_COMMAND_SIZE}`);
      return;
    }
    if (this.state !== State.Open) throw new ProtocolError('ZMTP message before the handshake completed');
    if (this.partsBytes + size > this.limits.maxMessageSize) throw new FrameTooLargeError(this.partsBytes + size, this.limits.maxMessageSize);
  }

  /** The frame `b[start, end)`. */
  private onFrame(flags: number, b: Buffer, start: number, end: number): void {
    if ((flags & FLAG_COMMAND) !== 0) {
      if ((flags & FLAG_MORE) !== 0) throw new ProtocolError('ZMTP command frame with MORE set');
      return this.onCommand(b.subarray(start, end));
    }
    const n = this.partCount;
    if (n >= this.limits.maxFrames) throw new ProtocolError(`ZMTP message of more than ${this.limits.maxFrames} frames`);
    if ((flags & FLAG_MORE) !== 0) {
      this.parts[n] = start === end ? EMPTY : b.subarray(start, end);
      this.partCount = n + 1;
      this.partsBytes += end - start;
      return;
    }
    this.partCount = 0;
    this.partsBytes = 0;
    this.events.message(this.takeHead(n), b, start, end);
  }

  /**
   * The `n` frames gathered (after the prefix) in an array sized to them; a ZeroRPC envelope (one
   * empty frame) is the same array each time: no array per message.
   */
  private takeHead(n: number): Buffer[] {
    const parts = this.parts;
    const p = this.prefix;
    let head: Buffer[];
    if (n === 1 && parts[0] === EMPTY) {
      let e = this.envelope;
      if (e === undefined || e[0] !== (p ?? EMPTY)) this.envelope = e = p === undefined ? [EMPTY] : [p, EMPTY];
      return e;
    }
    if (n === 1) head = p === undefined ? [parts[0]!] : [p, parts[0]!];
    else if (n === 0) head = p === undefined ? [] : [p];
    else {
      head = p === undefined ? [] : [p];
      for (let i = 0; i < n; i++) head.push(parts[i]!);
    }
    // Keep no views of what arrived (they hold its memory).
    for (let i = 0; i < n; i++) parts[i] = EMPTY;
    return head;
  }

  private onCommand(body: Buffer): void {
    const { name, data } = parseCommand(body);
    if (this.state === State.Handshake) {
      if (name === 'ERROR') throw new ProtocolError(`ZMTP peer refused the handshake: ${errorReason(data)}`);
      if (name !== 'READY') throw new ProtocolError(`ZMTP ${name.slice(0, 32)} command before READY`);
      const props = parseMetadata(data);
      const type = props.get('socket-type')?.toString('latin1') ?? '';
      if (!compatible(this.socketType, type)) throw new ProtocolError(`ZMTP peer socket type '${type.slice(0, 32)}' cannot talk to ${this.socketType}`);
      const identity = props.get('identity') ?? Buffer.alloc(0);
      if (identity.length > 255) throw new ProtocolError('ZMTP identity longer than 255 bytes');
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = undefined;
      this.state = State.Open;
      this.events.ready({ socketType: type, identity: Buffer.from(identity) });
      if (this.chunksBytes > 0 || this.slabUsed > 0) this.scheduleFlush();
      return;
    }
    switch (name) {
      case 'PING':
        if (data.length < 2 || data.length > 18) throw new ProtocolError('malformed ZMTP PING');
        // A flood of PINGs is answered by one PONG per turn of the event loop.
        this.pong = Buffer.from(data.subarray(2));
        this.scheduleFlush();
        return;
      case 'ERROR':
        throw new ProtocolError(`ZMTP peer sent ERROR: ${errorReason(data)}`);
      default:
        // PONG, SUBSCRIBE, CANCEL, and commands of later versions: nothing to do here.
        return;
    }
  }

  // ---- ending ----------------------------------------------------------------------------------

  private fail(err: ScalesError | undefined): void {
    if (this.state === State.Closed) return;
    this.end(err);
    this.socket.destroy();
  }

  private end(err: ScalesError | undefined): void {
    this.state = State.Closed;
    clearTimeout(this.handshakeTimer);
    this.chunks = [];
    this.parts.length = 0;
    this.partCount = 0;
    this.head = undefined;
    this.body = undefined;
    this.events.end(err);
  }
}

function errorReason(data: Buffer): string {
  const n = data[0] ?? 0;
  return data.toString('latin1', 1, Math.min(1 + n, data.length)).slice(0, 255) || 'no reason';
}
