/**
 * CURVE (ZeroMQ's encryption and authentication) for ZeroRPC: keys are Z85 strings
 * (`zmq.curveKeyPair()`, or `curveKeyPair()` here). A server may admit only listed client keys:
 * its socket gets a ZAP domain of its own, and one ZAP handler per process (ZeroMQ's
 * `inproc://zeromq.zap.01` in the default context) answers for every domain — allowed keys for
 * the domains with a list, 200 for any other (so other CURVE sockets of the process are not
 * affected).
 */
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../../core/errors.js';
import { loadZmq } from './socket.js';

export interface CurveKeyPair {
  readonly publicKey: string;
  readonly secretKey: string;
}

export interface CurveClientOptions extends CurveKeyPair {
  /** The server's public key. */
  readonly serverKey: string;
}

export interface CurveServerOptions extends CurveKeyPair {
  /** Client public keys (Z85) allowed in; undefined: any client that knows the server's key. */
  readonly allow?: readonly string[];
}

/** A new key pair (Z85). */
export async function curveKeyPair(): Promise<CurveKeyPair> {
  return (await loadZmq()).curveKeyPair();
}

const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';

/** Z85 text of a 32-byte key → its bytes (hex, for comparing with what ZAP hands over). */
export function z85ToHex(text: string): string {
  if (typeof text !== 'string' || text.length !== 40) throw new InvalidArgumentError('a CURVE key is 40 characters of Z85');
  const out = Buffer.alloc(32);
  for (let i = 0; i < 8; i++) {
    let v = 0;
    for (let j = 0; j < 5; j++) {
      const d = Z85.indexOf(text[i * 5 + j]!);
      if (d < 0) throw new InvalidArgumentError(`'${text[i * 5 + j]}' is not a Z85 character`);
      v = v * 85 + d;
    }
    out.writeUInt32BE(v >>> 0, i * 4);
  }
  return out.toString('hex');
}

const allowLists = new Map<string, ReadonlySet<string>>();
let handler: Promise<{ close(): void }> | undefined;

/**
 * Registers `allow` for a new ZAP domain (returned); `release` forgets it when the server closes,
 * and the last release stops the handler (its socket would keep the process alive).
 */
export async function allowListDomain(allow: readonly string[]): Promise<{ domain: string; release: () => void }> {
  const keys = new Set(allow.map(z85ToHex));
  const domain = `scales-zerorpc-${randomBytes(6).toString('hex')}`;
  allowLists.set(domain, keys);
  const running = (handler ??= startZapHandler());
  try {
    await running;
  } catch (err) {
    allowLists.delete(domain);
    throw err;
  }
  const release = () => {
    if (!allowLists.delete(domain) || allowLists.size > 0 || handler !== running) return;
    handler = undefined;
    void running.then((zap) => zap.close());
  };
  return { domain, release };
}

async function startZapHandler(): Promise<{ close(): void }> {
  const zmq = await loadZmq();
  const zap = new zmq.Router({ linger: 0 });
  try {
    await zap.bind('inproc://zeromq.zap.01');
  } catch (err) {
    handler = undefined;
    zap.close();
    throw new InvalidArgumentError('CURVE allow-list: another ZAP handler already serves this process', { cause: err });
  }
  void (async () => {
    // [routing id, empty, version, request id, domain, address, identity, mechanism, credentials...]
    for await (const f of zap) {
      const [rid, empty, version, requestId, domain, , , mechanism, key] = f;
      const list = allowLists.get(domain?.toString() ?? '');
      let ok = true;
      if (list !== undefined) ok = mechanism?.toString() === 'CURVE' && key !== undefined && list.has(key.toString('hex'));
      await zap.send([rid!, empty!, version!, requestId!, ok ? '200' : '400', ok ? 'OK' : 'client key not allowed', '', '']);
    }
  })().catch(() => {
    // closed
  });
  return zap;
}
