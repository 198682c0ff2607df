import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { CancelledError, ConnectError, InvalidArgumentError, type ScalesErrorOptions } from '../core/errors.js';
import type { TcpEndpoint } from '../discovery/endpoint.js';

/** PEM text or bytes, as node:tls takes them; a list for several CA certificates. */
export type Pem = string | Buffer | readonly (string | Buffer)[];

/**
 * TLS material and limits shared by clients and servers. Every PEM can be given inline (`ca`,
 * `cert`, `key`: PEM text or bytes, as node:tls takes them) or as a file (`caFile`, `certFile`,
 * `keyFile`: paths read when the client is built, the server starts, or `reloadTls()` runs).
 * Two fields instead of one that guesses: a path is never mistaken for PEM, nor PEM for a path.
 */
export interface TlsOptions {
  /** Trusted CA certificates (default: Node's bundled roots). Clients check the server against them; mTLS servers check client certificates. */
  ca?: Pem;
  caFile?: string | readonly string[];
  /** This side's certificate chain (a server's, or a client's for mTLS). */
  cert?: Pem;
  certFile?: string;
  /** The private key of `cert`. */
  key?: Pem;
  keyFile?: string;
  /** Passphrase of an encrypted key. */
  passphrase?: string;
  /** Lowest protocol version accepted (default 'TLSv1.2'). */
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  /** OpenSSL cipher list (default: Node's). */
  ciphers?: string;
  /** A TLS handshake must finish within this many ms, or the connection is closed (default 10000). */
  handshakeTimeoutMs?: number;
}

export interface TlsClientOptions extends TlsOptions {
  /** Name sent as SNI and checked against the server's certificate (default: the endpoint's host). */
  servername?: string;
  /** Refuse servers whose certificate does not verify (default true; turn off only for tests). */
  rejectUnauthorized?: boolean;
  /**
   * With a client certificate over TLS 1.3 the server judges it only after our side of the
   * handshake is done: wait this long at most for its verdict (its session ticket, or its
   * refusal) before the connection counts as open, so a refused certificate is a TlsError at
   * connect instead of a closed connection at the first call (default 1000; 0: do not wait).
   */
  clientCertCheckMs?: number;
}

export interface TlsServerOptions extends TlsOptions {
  /** Ask clients for a certificate (mTLS; default false). */
  requestCert?: boolean;
  /** With requestCert: close connections whose client certificate is missing or does not verify against `ca` (default true). */
  rejectUnauthorized?: boolean;
}

/** Why a TLS connection failed; stable values to switch on. */
export type TlsFailure =
  /** The peer's certificate does not chain to a trusted CA (wrong CA, self-signed). */
  | 'untrusted-certificate'
  /** The peer's certificate is expired or not yet valid. */
  | 'certificate-expired'
  /** The server's certificate does not name the host (or `servername`) we connected to. */
  | 'hostname-mismatch'
  /** An mTLS server got no client certificate. */
  | 'certificate-required'
  /** The peer refused our certificate (its TLS alert, or closing right after the handshake). */
  | 'certificate-rejected'
  /** The peer does not speak TLS (a plain-TCP port, or a plain client on a TLS port). */
  | 'not-tls'
  /** The handshake did not finish within handshakeTimeoutMs. */
  | 'handshake-timeout'
  /** The connection closed during the handshake. */
  | 'closed-during-handshake'
  /** Anything else OpenSSL refused (no shared cipher or version, ...). */
  | 'handshake-failed';

/**
 * A TLS handshake or certificate check failed. A ConnectError (code SCALES_ERR_CONNECT, the
 * request was never written): pools back off and failure accrual counts it like a refused
 * connection. `reason` says why, stably; `tlsCode` is OpenSSL's or Node's own code.
 */
export class TlsError extends ConnectError {
  readonly reason: TlsFailure;
  readonly tlsCode: string | undefined;
  constructor(reason: TlsFailure, message: string, options: ScalesErrorOptions & { tlsCode?: string } = {}) {
    super(message, options);
    this.reason = reason;
    this.tlsCode = options.tlsCode;
  }
}

export const TLS_DEFAULTS = Object.freeze({
  /** Long enough for a slow peer across the world, short enough that a flood of silent sockets is dropped quickly. */
  handshakeTimeoutMs: 10_000,
  minVersion: 'TLSv1.2' as tls.SecureVersion,
  clientCertCheckMs: 1000,
});

/** What node:tls's createSecureContext takes: the options with files read. */
export type SecureContextMaterial = tls.SecureContextOptions;

/** Reads the files of `o` and checks that they make a context (a key that fits its certificate, PEM that parses). */
export function loadTlsMaterial(o: TlsOptions, side: 'client' | 'server'): SecureContextMaterial {
  if (o === null || typeof o !== 'object') throw new InvalidArgumentError(`tls must be an options object, got ${o === null ? 'null' : typeof o}`);
  const one = (inline: Pem | undefined, file: string | readonly string[] | undefined, name: string): Pem | undefined => {
    if (inline !== undefined && file !== undefined) throw new InvalidArgumentError(`tls: give either ${name} or ${name}File, not both`);
    if (file === undefined) return inline;
    const files = typeof file === 'string' ? [file] : file;
    return files.map((f) => {
      if (typeof f !== 'string') throw new InvalidArgumentError(`tls.${name}File must be a path string, got ${typeof f}`);
      try {
        return readFileSync(f);
      } catch (err) {
        throw new InvalidArgumentError(`tls.${name}File: cannot read '${f}': ${(err as Error).message}`, { cause: err });
      }
    });
  };
  const ca = one(o.ca, o.caFile, 'ca');
  const cert = one(o.cert, o.certFile, 'cert');
  const key = one(o.key, o.keyFile, 'key');
  if (side === 'server' && (cert === undefined || key === undefined)) throw new InvalidArgumentError('tls: a server needs cert (or certFile) and key (or keyFile)');
  if ((cert === undefined) !== (key === undefined)) throw new InvalidArgumentError('tls: cert and key go together: give both or neither');
  const timeout = o.handshakeTimeoutMs;
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && Number.isFinite(timeout))) {
    throw new InvalidArgumentError(`tls.handshakeTimeoutMs must be a positive number, got ${typeof timeout} ${String(timeout)}`);
  }
  const material: SecureContextMaterial = {
    minVersion: o.minVersion ?? TLS_DEFAULTS.minVersion,
    ...(o.maxVersion === undefined ? {} : { maxVersion: o.maxVersion }),
    ...(o.ciphers === undefined ? {} : { ciphers: o.ciphers }),
    ...(o.passphrase === undefined ? {} : { passphrase: o.passphrase }),
    ...(ca === undefined ? {} : { ca: ca as string | Buffer | (string | Buffer)[] }),
    ...(cert === undefined ? {} : { cert: cert as string | Buffer | (string | Buffer)[] }),
    ...(key === undefined ? {} : { key: key as string | Buffer | (string | Buffer)[] }),
  };
  try {
    tls.createSecureContext(material); // fail at build/start/reload, not at the first connection
  } catch (err) {
    throw new InvalidArgumentError(`tls: bad certificate, key or CA: ${(err as Error).message}`, { cause: err });
  }
  return material;
}

/** A client's TLS settings, made once per client: one secure context shared by every connection. */
export class TlsClientConfig {
  readonly context: tls.SecureContext;
  readonly handshakeTimeoutMs: number;
  readonly clientCertCheckMs: number;
  private readonly hasCert: boolean;

  constructor(readonly options: TlsClientOptions) {
    const material = loadTlsMaterial(options, 'client');
    this.context = tls.createSecureContext(material);
    this.hasCert = material.cert !== undefined;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? TLS_DEFAULTS.handshakeTimeoutMs;
    const check = options.clientCertCheckMs ?? TLS_DEFAULTS.clientCertCheckMs;
    if (!(typeof check === 'number' && check >= 0 && Number.isFinite(check))) throw new InvalidArgumentError(`tls.clientCertCheckMs must be a number >= 0, got ${typeof check} ${String(check)}`);
    this.clientCertCheckMs = this.hasCert ? check : 0;
    if (options.servername !== undefined && typeof options.servername !== 'string') throw new InvalidArgumentError(`tls.servername must be a string, got ${typeof options.servername}`);
  }

  /**
   * Runs the client handshake over a connected TCP socket. Resolves with the TLS socket; rejects
   * with TlsError (or CancelledError) naming `endpoint`, the TCP socket destroyed. `budgetMs` is
   * what is left of the connect timeout: the handshake gets the smaller of it and handshakeTimeoutMs.
   */
  secure(raw: net.Socket, host: string, endpoint: string, budgetMs: number, signal?: AbortSignal): Promise<tls.TLSSocket> {
    const servername = this.options.servername ?? (isIp(host) ? undefined : host);
    const timeoutMs = Math.max(1, Math.min(budgetMs, this.handshakeTimeoutMs));
    return new Promise<tls.TLSSocket>((resolve, reject) => {
      const socket = tls.connect({
        socket: raw,
        secureContext: this.context,
        rejectUnauthorized: this.options.rejectUnauthorized ?? true,
        // The name checked against the certificate: an IP host is checked against IP SANs.
        ...(servername === undefined ? { host } : { servername, host: servername }),
      });
      let secured = false;
      let settled = false;
      const finish = (err: Error | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(verdictTimer);
        signal?.removeEventListener('abort', onAbort);
        socket.removeListener('secureConnect', onSecure);
        socket.removeListener('session', onVerdict);
        socket.removeListener('error', onError);
        socket.removeListener('end', onEnd);
        socket.removeListener('close', onEnd);
        if (err === undefined) {
          resolve(socket);
          return;
        }
        socket.on('error', ignore); // a late error from the dying socket must not crash the process
        socket.destroy();
        raw.destroy();
        reject(err);
      };
      const onSecure = (): void => {
        secured = true;
        // TLS 1.3 with a client certificate: the server checks it after our 'secureConnect'.
        if (this.clientCertCheckMs > 0 && socket.getProtocol() === 'TLSv1.3') {
          verdictTimer = setTimeout(() => finish(undefined), this.clientCertCheckMs);
          return;
        }
        finish(undefined);
      };
      // A TLS 1.3 server sends its session ticket once it has accepted the handshake (not 'data':
      // a listener would start the flow before the Connection reads). Handed over on the next
      // turn: 'session' is emitted from inside OpenSSL's read, and a write made before it
      // returns (an HTTP request written at once) corrupts the record layer.
      const onVerdict = (): void => {
        if (secured) setImmediate(finish, undefined);
      };
      const onError = (err: NodeJS.ErrnoException): void => finish(tlsErrorOf(err, endpoint, 'client', secured));
      const onEnd = (): void => {
        const message = secured
          ? `${endpoint} closed the connection right after the TLS handshake: it refused our client certificate (see the server's log for why)`
          : `${endpoint} closed the connection during the TLS handshake: is it a TLS port?`;
        finish(new TlsError(secured ? 'certificate-rejected' : 'closed-during-handshake', message, { endpoint }));
      };
      const onAbort = (): void => finish(new CancelledError(`connect to ${endpoint} cancelled`, { endpoint, cause: signal?.reason }));
      const timer = setTimeout(() => finish(new TlsError('handshake-timeout', `TLS handshake with ${endpoint} did not finish within ${timeoutMs} ms: is it a TLS port?`, { endpoint })), timeoutMs);
      let verdictTimer: NodeJS.Timeout | undefined;
      socket.once('secureConnect', onSecure);
      if (this.clientCertCheckMs > 0) socket.on('session', onVerdict); // only then: it turns on OpenSSL's session callbacks
      socket.on('error', onError);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

/**
 * Maps what node:tls raised to a TlsError naming the endpoint and the reason. `we` is our side:
 * a client judges the server's certificate, a server the client's.
 */
export function tlsErrorOf(err: NodeJS.ErrnoException, endpoint: string, we: 'client' | 'server', afterHandshake = false): TlsError {
  const code = err.code ?? '';
  const [reason, why] = classify(code, err.message, we, afterHandshake);
  const head = we === 'client' ? `TLS with ${endpoint} failed` : `TLS client ${endpoint} refused`;
  return new TlsError(reason, `${head}: ${why} (${code || err.message})`, { endpoint, cause: err, tlsCode: code || undefined });
}

function classify(code: string, message: string, we: 'client' | 'server', afterHandshake: boolean): [TlsFailure, string] {
  const theirs = we === 'client' ? "the server's certificate" : "the client's certificate";
  switch (code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_SIGNATURE_FAILURE':
    case 'CERT_UNTRUSTED':
    case 'CERT_REJECTED':
      return ['untrusted-certificate', `${theirs} is not signed by a trusted CA (tls.ca)`];
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return ['certificate-expired', `${theirs} is expired or not yet valid`];
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return ['hostname-mismatch', `${theirs} does not name this host (set tls.servername to a name it carries)`];
    case 'ERR_TLS_HANDSHAKE_TIMEOUT':
      return ['handshake-timeout', 'the handshake did not finish within handshakeTimeoutMs'];
    case 'ECONNRESET':
    case 'EPIPE':
      if (we === 'server') return ['closed-during-handshake', 'it closed the connection during the handshake (did it refuse our certificate?)'];
      return afterHandshake
        ? ['certificate-rejected', 'the server closed the connection right after the handshake']
        : ['closed-during-handshake', 'the server closed the connection during the handshake: is it a TLS port?'];
    default:
      break;
  }
  if (/WRONG_VERSION_NUMBER|HTTP_REQUEST|PACKET_LENGTH_TOO_LONG|UNKNOWN_PROTOCOL|RECORD_LENGTH_MISMATCH|VERSION_TOO_LOW|UNSUPPORTED_PROTOCOL|ENCRYPTED_LENGTH_TOO_LONG/.test(code)) {
    return ['not-tls', we === 'client' ? 'the server does not speak TLS (a plain port?)' : 'it does not speak TLS (a plain client on a TLS port?)'];
  }
  if (/ALERT_CERTIFICATE_REQUIRED|PEER_DID_NOT_RETURN_A_CERTIFICATE/.test(code) || /peer did not return a certificate/.test(message)) {
    return ['certificate-required', 'the server requires a client certificate (tls.cert and tls.key)'];
  }
  if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_EXPIRED|CERTIFICATE_UNKNOWN|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED|DECRYPT_ERROR)/.test(code)) {
    return ['certificate-rejected', we === 'client' ? 'the server refused our client certificate' : 'it refused our certificate'];
  }
  return ['handshake-failed', 'the TLS handshake failed'];
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':');
}

function ignore(): void {}

/**
 * The server side: accepted TCP sockets go through a node:tls Server that never listens itself
 * (its 'connection' event takes sockets from our own listener, so the connection cap and the
 * listener's accounting stay as they are). It owns the handshake timeout, client-certificate
 * checks, and `reload()` (node's setSecureContext: new connections get the new certificate,
 * open ones keep theirs).
 */
export class TlsAcceptor {
  private readonly server: tls.Server;
  private readonly requestCert: boolean;
  private readonly rejectUnauthorized: boolean;
  private options: TlsServerOptions;
  /** The client's address, read at accept: a socket that failed its handshake no longer knows it. */
  private readonly peers = new WeakMap<net.Socket, string>();

  /**
   * `onSecure` gets each socket once its handshake succeeded (and its client certificate, when
   * asked for, verified); `onFailure` each refused one (a TlsError naming the client).
   */
  constructor(
    options: TlsServerOptions,
    onSecure: (socket: tls.TLSSocket) => void,
    private readonly onFailure: (err: TlsError) => void,
  ) {
    const material = loadTlsMaterial(options, 'server');
    this.options = options;
    this.requestCert = options.requestCert ?? false;
    this.rejectUnauthorized = options.rejectUnauthorized ?? true;
    if (this.requestCert && this.rejectUnauthorized && material.ca === undefined) {
      throw new InvalidArgumentError('tls: requestCert needs ca (or caFile), the CA that signs client certificates');
    }
    this.server = tls.createServer({
      ...material,
      requestCert: this.requestCert,
      // Checked below instead, so that a refused client certificate is reported (node would
      // close the socket without a word).
      rejectUnauthorized: false,
      handshakeTimeout: options.handshakeTimeoutMs ?? TLS_DEFAULTS.handshakeTimeoutMs,
    });
    this.server.on('secureConnection', (socket: tls.TLSSocket) => {
      if (this.requestCert && this.rejectUnauthorized && !socket.authorized) {
        this.refuse(socket);
        return;
      }
      onSecure(socket);
    });
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      const raw = acceptedOf(socket);
      const endpoint = (raw === undefined ? undefined : this.peers.get(raw)) ?? peerOf(socket);
      socket.destroy();
      // A handshake the client broke off leaves the accepted socket open (the listener would
      // wait for it until its close backstop).
      raw?.destroy();
      this.onFailure(tlsErrorOf(err, endpoint, 'server'));
    });
  }

  /** Starts the handshake on an accepted socket. */
  accept(socket: net.Socket): void {
    this.peers.set(socket, peerOf(socket));
    // Until the handshake is done a FIN ends the socket (it would wait half-open for the
    // handshake timeout); the Connection allows half-open again once it owns the socket.
    socket.allowHalfOpen = false;
    this.server.emit('connection', socket);
  }

  /**
   * New certificate, key or CA for new connections: `options` replaces the TLS options (their
   * requestCert/rejectUnauthorized stay as the server started), or without it the files are read
   * again. Throws InvalidArgumentError (and keeps serving the old certificate) when they do not load.
   */
  reload(options?: TlsServerOptions): void {
    const next = options ?? this.options;
    const material = loadTlsMaterial(next, 'server');
    this.server.setSecureContext(material);
    this.options = next;
  }

  private refuse(socket: tls.TLSSocket): void {
    const endpoint = peerOf(socket);
    const peer = socket.getPeerCertificate();
    const code = String(socket.authorizationError ?? '');
    const err =
      peer === null || Object.keys(peer).length === 0
        ? new TlsError('certificate-required', `TLS client ${endpoint} refused: it sent no certificate, and this server requires one (requestCert)`, { endpoint })
        : tlsErrorOf(Object.assign(new Error(code), { code }), endpoint, 'server', true);
    socket.destroy();
    acceptedOf(socket)?.destroy();
    this.onFailure(err);
  }
}

/** The TCP socket a server-side TLS socket wraps: node:tls keeps it in `_parent` (not public; without it the listener's backstop closes it). */
function acceptedOf(socket: tls.TLSSocket): net.Socket | undefined {
  const raw = (socket as unknown as { _parent?: unknown })._parent;
  return raw instanceof net.Socket ? raw : undefined;
}

function peerOf(socket: net.Socket): string {
  const host = socket.remoteAddress ?? 'unknown';
  return `${host.includes(':') ? `[${host}]` : host}:${socket.remotePort ?? 0}`;
}

/**
 * A client's TLS per endpoint, made once per client: with `options` every endpoint is reached
 * over TLS with them; without, only `tls://` endpoints, with Node's default trust (its CA bundle).
 */
export function clientTls(options: TlsClientOptions | undefined): (endpoint: TcpEndpoint) => TlsClientConfig | undefined {
  const configured = options === undefined ? undefined : new TlsClientConfig(options);
  let defaults: TlsClientConfig | undefined;
  return (e) => configured ?? (e.scheme === 'tls' ? (defaults ??= new TlsClientConfig({})) : undefined);
}
