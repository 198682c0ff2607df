/**
 * A ZMTP ROUTER: listens on tcp:// addresses, gives every peer a routing identity (its READY
 * Identity when it sent a unique one, else 5 bytes as libzmq makes them: 0x00 and a counter), hands
 * each message up as `[identity, ...frames]` (the last frame as a range of the bytes read), and
 * sends `[identity, ...frames]` to that peer
 * (silently dropped when the peer is gone, as libzmq's ROUTER does). A peer that breaks the
 * protocol loses its own connection only.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ClosedError, InvalidArgumentError, type ScalesError } from '../../../core/errors.js';
import { PackWriter } from '../msgpack.js';
import { DEFAULT_ZMTP_LIMITS, ZmtpConnection, type ZmtpLimits } from './connection.js';

export interface RouterHandlers {
  /** A message: `[identity, ...frames but the last]`, and the last as bytes [start, end) of `buf` (see ZmtpEvents). */
  message(head: Buffer[], buf: Buffer, start: number, end: number): void;
  /** A peer's connection failed (bad greeting, limits, reset): reported, the router keeps serving. */
  peerError(err: ScalesError, peer: string): void;
}

/** `tcp://host:port` → where to listen; host `*` is every IPv4 interface, port `*` or 0 any free one. */
export function parseTcpBind(addr: string): { host: string; port: number } {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\*|\d+)$/i.exec(addr.trim());
  if (m === null) throw new InvalidArgumentError(`not a tcp://host:port address: '${addr}'`);
  const rawHost = m[1]!;
  const host = rawHost === '*' ? '0.0.0.0' : rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  const port = m[2] === '*' ? 0 : Number(m[2]);
  if (port > 65535) throw new InvalidArgumentError(`bad port in '${addr}'`);
  return { host, port };
}

export class ZmtpRouter {
  private readonly servers: Server[] = [];
  private readonly peers = new Map<string, ZmtpConnection>();
  private readonly pending = new Set<ZmtpConnection>();
  private nextId = (Math.random() * 0x7fffffff) >>> 0;
  readonly endpoints: string[] = [];
  closed = false;

  private constructor(
    private readonly limits: ZmtpLimits,
    private readonly h: RouterHandlers,
  ) {}

  static async bind(addrs: readonly string[], limits: Partial<ZmtpLimits>, h: RouterHandlers): Promise<ZmtpRouter> {
    const r = new ZmtpRouter({ ...DEFAULT_ZMTP_LIMITS, ...limits }, h);
    try {
      for (const a of addrs) await r.listen(a);
    } catch (err) {
      r.close();
      throw err;
    }
    return r;
  }

  private listen(addr: string): Promise<void> {
    const { host, port } = parseTcpBind(addr);
    const server = createServer((s) => this.accept(s));
    this.servers.push(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const a = server.address();
        const bound = typeof a === 'object' && a !== null ? a.port : port;
        this.endpoints.push(`tcp://${host.includes(':') ? `[${host}]` : host}:${bound}`);
        resolve();
      });
    });
  }

  private accept(s: Socket): void {
    if (this.closed) {
      s.destroy();
      return;
    }
    const peer = `${s.remoteAddress}:${s.remotePort}`;
    let key: string | undefined;
    const conn: ZmtpConnection = new ZmtpConnection(s, 'ROUTER', this.limits, {
      ready: (p) => {
        this.pending.delete(conn);
        let id = p.identity;
        if (id.length === 0 || this.peers.has(id.toString('latin1'))) id = this.newIdentity();
        key = id.toString('latin1');
        this.peers.set(key, conn);
        // The identity frame is ours, put first in each message's array by the connection.
        conn.prefix = id;
      },
      message: (head, buf, start, end) => this.h.message(head, buf, start, end),
      end: (err) => {
        this.pending.delete(conn);
        if (key !== undefined && this.peers.get(key) === conn) this.peers.delete(key);
        if (err !== undefined && !this.closed && err.code !== 'SCALES_ERR_CONNECTION_CLOSED') this.h.peerError(err, peer);
      },
    });
    this.pending.add(conn);
  }

  private newIdentity(): Buffer {
    for (;;) {
      const id = Buffer.allocUnsafe(5);
      id[0] = 0;
      id.writeUInt32BE(this.nextId, 1);
      this.nextId = (this.nextId + 1) >>> 0;
      if (!this.peers.has(id.toString('latin1'))) return id;
    }
  }

  /** Peers connected and past the handshake. */
  get size(): number {
    return this.peers.size;
  }

  /** `[identity, ...frames]`: to that peer; dropped when it is gone. Throws OverloadedError when its queue is full. */
  send(frames: readonly Uint8Array[]): void {
    this.peer(frames)?.send(frames, 1);
  }

  /**
   * Starts a message `[identity, ...head]` to that peer, its last frame encoded in place through
   * the returned writer (see ZmtpConnection.startMessage); for a peer that is gone, a writer
   * whose bytes are dropped.
   */
  startMessage(head: readonly Uint8Array[]): PackWriter {
    const conn = this.peer(head);
    this.current = conn;
    if (conn !== undefined) return conn.startMessage(head, 1);
    this.discard.start();
    return this.discard;
  }

  endMessage(): void {
    const conn = this.current;
    this.current = undefined;
    conn?.endMessage();
  }

  cancelMessage(): void {
    const conn = this.current;
    this.current = undefined;
    conn?.cancelMessage();
  }
  /** The connection of the message being encoded; the writer for a peer that is gone. */
  private current: ZmtpConnection | undefined = undefined;
  private readonly discard = new PackWriter(0);

  /** The connection of the identity `frames[0]`; undefined when that peer is gone. */
  private peer(frames: readonly Uint8Array[]): ZmtpConnection | undefined {
    if (this.closed) throw new ClosedError('ZMTP router closed', { unwritten: true });
    const id = frames[0]!;
    // Answers come back with the identity buffer we handed up: the peer found without a string.
    let conn = id === this.lastId ? this.lastConn : undefined;
    if (conn === undefined || conn.closed) {
      conn = this.peers.get(Buffer.isBuffer(id) ? id.toString('latin1') : Buffer.from(id).toString('latin1'));
      if (conn === undefined) return undefined;
      this.lastId = id;
      this.lastConn = conn;
    }
    return conn;
  }
  private lastId: Uint8Array | undefined = undefined;
  private lastConn: ZmtpConnection | undefined = undefined;

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.servers) s.close();
    for (const c of [...this.peers.values(), ...this.pending]) c.close();
    this.peers.clear();
    this.pending.clear();
  }
}
