/**
 * A ZMTP DEALER with one peer: the ZeroRPC client's connection to one server (the stack's pool
 * and balancer already give one connection per node). Resolves once the handshake is done; when
 * the connection ends, `onEnd` runs once and the pool makes a new one.
 */
import { connect as netConnect } from 'node:net';
import { ConnectError, ConnectTimeoutError, type ScalesError } from '../../../core/errors.js';
import type { PackWriter } from '../msgpack.js';
import { DEFAULT_ZMTP_LIMITS, ZmtpConnection, type ZmtpLimits } from './connection.js';

export interface DealerHandlers {
  /** A message: its frames but the last, and the last as bytes [start, end) of `buf` (see ZmtpEvents). */
  message(head: Buffer[], buf: Buffer, start: number, end: number): void;
  /** The connection ended after the handshake: `err` undefined when we closed it. */
  end(err: ScalesError | undefined): void;
}

export class ZmtpDealer {
  private constructor(private readonly conn: ZmtpConnection) {}

  static connect(host: string, port: number, timeoutMs: number, limits: Partial<ZmtpLimits>, h: DealerHandlers): Promise<ZmtpDealer> {
    const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    return new Promise((resolve, reject) => {
      let settled = false;
      let timedOut = false;
      const socket = netConnect({ host, port });
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        timedOut = true;
        conn.close();
        reject(new ConnectTimeoutError(`ZeroRPC connect to ${where} timed out after ${timeoutMs} ms`, { endpoint: where }));
      }, timeoutMs);
      const conn = new ZmtpConnection(
        socket,
        'DEALER',
        { ...DEFAULT_ZMTP_LIMITS, ...limits },
        {
          ready: () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            resolve(new ZmtpDealer(conn));
          },
          message: (head, buf, start, end) => h.message(head, buf, start, end),
          end: (err) => {
            if (timedOut) return;
            if (settled) return h.end(err);
            settled = true;
            clearTimeout(timer);
            reject(new ConnectError(`cannot connect to ${where}: ${err?.message ?? 'closed'}`, { endpoint: where, cause: err }));
          },
        },
        { Identity: '' },
      );
    });
  }

  get closed(): boolean {
    return this.conn.closed;
  }

  get queued(): number {
    return this.conn.queued;
  }

  send(frames: readonly Uint8Array[]): void {
    this.conn.send(frames);
  }

  startMessage(head: readonly Uint8Array[]): PackWriter {
    return this.conn.startMessage(head, 0);
  }

  endMessage(): void {
    this.conn.endMessage();
  }

  cancelMessage(): void {
    this.conn.cancelMessage();
  }

  close(): void {
    this.conn.close();
  }
}
