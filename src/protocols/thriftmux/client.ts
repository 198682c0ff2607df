import { ClientBuilderBase, optionKeys, STACK_OPTION_KEYS, type StackEdit } from '../../client/builder.js';
import type { ClientStack } from '../../client/client-stack.js';
import { checkStackOptions, type ClientStackOptions, type PoolConfig } from '../../client/options.js';
import { createClientProxy, type ClientControl } from '../../client/proxy.js';
import { clientStack, type ProtocolParts } from '../../client/stack.js';
import { classifier } from '../../core/classify.js';
import { ConnectionClosedError, InvalidArgumentError } from '../../core/errors.js';
import { endpointKey, tcpAddress } from '../../discovery/endpoint.js';
import { resolveDestination } from '../../discovery/resolve.js';
import type { ServerSet } from '../../discovery/serverset.js';
import type { StatsRegistry } from '../../stats/registry.js';
import { Connection } from '../../transport/index.js';
import { clientTls, type TlsClientOptions } from '../../transport/tls.js';
import { MuxClientCodec } from '../mux/client-codec.js';
import { MuxClientSession } from '../mux/client-session.js';
import { MuxNackError } from '../mux/errors.js';
import { clientHandshake, framerHeader } from '../mux/handshake.js';
import { DEFAULT_PING_INTERVAL_MS, DEFAULT_PING_TIMEOUT_MS, Pinger } from '../mux/pinger.js';
import type { MuxReply, MuxRequest } from '../mux/request.js';
import { isOverloadRejection } from '../thrift/server-codec.js';
import type { ServiceDesc } from '../thrift/descriptors.js';
import { proxyMethods } from '../thrift/proxy-methods.js';
import type { ThriftCall } from '../thrift/messages.js';
import { makeProtocol, type ThriftProtocolKind } from '../thrift/protocols.js';
import { MUX_HOLD_FACTOR, MUX_READ_SPLIT } from './batching.js';
import { thriftMuxSerializerLayer } from './serializer.js';

export interface ThriftMuxClientOptions extends ClientStackOptions {
  /** Thrift protocol inside Tdispatch (default 'binary', as Finagle). */
  protocol?: ThriftProtocolKind;
  /** Sent as `com.twitter.finagle.thrift.ClientIdContext` on every call. */
  clientId?: string;
  /** Probe and negotiate (Tinit) when a session opens (default true). Off: talk at once, as pre-negotiation Finagle. */
  handshake?: boolean;
  /** Largest frame or reassembled message accepted, in bytes (default 16 MiB). */
  maxFrameSize?: number;
  /** Calls abandoned (Tdiscarded sent) whose answers are still owed, before the session is reset (default 1024). */
  maxAbandoned?: number;
  /** Most calls in flight on one session (default 65536); more fail with OverloadedError. */
  maxInFlight?: number;
  /**
   * The largest frame we take, sent as `mux-framer` in the handshake: the server cuts larger
   * replies into fragments of this size, interleaved with the others (default: none sent).
   */
  framerSize?: number;
  /** Tping every this many ms, one at a time (default 5000; 0: no pings). */
  pingInterval?: number;
  /** No Rping this long after a Tping closes the session (default 4000 ms). */
  pingTimeout?: number;
  /** TLS for every endpoint (mTLS with `cert`/`key`); `tls://` endpoints use TLS even without it (docs/tls.md). */
  tls?: TlsClientOptions;
}

const THRIFTMUX_OPTION_KEYS = optionKeys<ThriftMuxClientOptions>({
  ...STACK_OPTION_KEYS,
  protocol: true,
  clientId: true,
  handshake: true,
  maxFrameSize: true,
  maxAbandoned: true,
  maxInFlight: true,
  framerSize: true,
  pingInterval: true,
  pingTimeout: true,
  tls: true,
});

/** One multiplexed session per node. */
export const THRIFTMUX_DEFAULT_POOL: PoolConfig = { kind: 'singleton' };

/** A NACK (and a Scales Thrift server's overload answer) did not run the call: send it elsewhere. */
export const thriftMuxClassifier = classifier({
  error: (err) => (err instanceof MuxNackError || isOverloadRejection(err) ? 'retryable' : undefined),
});

export class ThriftMuxClientBuilder<Client> extends ClientBuilderBase<ThriftMuxClientBuilder<Client>, ThriftMuxClientOptions, Extract<keyof Client, string>> {
  constructor(
    private readonly service: ServiceDesc<Client>,
    options: Readonly<ThriftMuxClientOptions> = {},
    stackEdits: readonly StackEdit[] = [],
  ) {
    super(options, stackEdits, { optionKeys: THRIFTMUX_OPTION_KEYS, methods: Object.keys(service.methods), service: service.name });
  }

  protected copy(options: ThriftMuxClientOptions, stackEdits: readonly StackEdit[]): ThriftMuxClientBuilder<Client> {
    return new ThriftMuxClientBuilder(this.service, options, stackEdits);
  }

  withProtocol(protocol: ThriftProtocolKind): ThriftMuxClientBuilder<Client> {
    return this.with({ protocol });
  }
  withClientId(clientId: string): ThriftMuxClientBuilder<Client> {
    return this.with({ clientId });
  }
  withHandshake(handshake: boolean): ThriftMuxClientBuilder<Client> {
    return this.with({ handshake });
  }
  withMaxFrameSize(maxFrameSize: number): ThriftMuxClientBuilder<Client> {
    return this.with({ maxFrameSize });
  }
  /** TLS (mTLS with `cert` and `key`) to every endpoint (docs/tls.md). */
  withTls(tls: TlsClientOptions): ThriftMuxClientBuilder<Client> {
    return this.with({ tls });
  }

  stack(dest: string | ServerSet): ClientStack {
    return this.make(dest).stack;
  }

  build(dest: string | ServerSet): Client & ClientControl {
    const { stack, stats, serverSet, owned } = this.make(dest);
    const top = stack.build<ThriftCall, unknown>();
    return createClientProxy<ThriftCall, Client>(proxyMethods(this.service), top, stack, this.options.timeout, stats, () => {
      if (owned) serverSet.close();
    });
  }

  private make(dest: string | ServerSet): { stack: ClientStack; stats: StatsRegistry; serverSet: ServerSet; owned: boolean } {
    const o = this.options;
    checkOptions(o);
    const { serverSet, label, owned } = resolveDestination(dest);
    const built = clientStack(thriftMuxParts(o), { ...o, pool: o.pool ?? THRIFTMUX_DEFAULT_POOL }, serverSet, `${this.service.name}@${label}`);
    return { stack: this.applyEdits(built.stack), stats: built.stats, serverSet, owned };
  }
}

function checkOptions(o: ThriftMuxClientOptions): void {
  checkStackOptions(o);
  for (const name of ['pingInterval'] as const) {
    const v = o[name];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new InvalidArgumentError(`${name} must be a number of ms >= 0, got ${String(v)}`);
  }
  for (const name of ['maxFrameSize', 'maxAbandoned', 'maxInFlight', 'pingTimeout', 'framerSize'] as const) {
    const v = o[name];
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new InvalidArgumentError(`${name} must be a positive number, got ${String(v)}`);
  }
  if (o.clientId !== undefined && Buffer.byteLength(o.clientId) > 0xffff) throw new InvalidArgumentError('clientId is longer than 65535 bytes');
}

/** How a ThriftMux session is opened to one node: connect, handshake, then a MultiplexedSession. */
export function thriftMuxParts(o: ThriftMuxClientOptions): ProtocolParts<MuxRequest, MuxReply> {
  const protocol = makeProtocol(o.protocol ?? 'binary', o.maxFrameSize);
  const maxFrameSize = o.maxFrameSize ?? 16 * 1024 * 1024;
  const handshake = o.handshake ?? true;
  const tlsFor = clientTls(o.tls);
  return {
    connect: async (endpoint, connectTimeoutMs) => {
      const a = tcpAddress(endpoint, 'ThriftMux over TCP');
      const started = Date.now();
      const conn = await Connection.connect(a.host, a.port, {
        framing: { kind: 'length-prefixed' },
        maxFrameSize,
        connectTimeoutMs,
        endpoint: endpointKey(a),
        tls: tlsFor(a),
        readSplit: MUX_READ_SPLIT,
      });
      let peerMaxFrame: number | undefined;
      let early: readonly Buffer[] = [];
      if (handshake) {
        const hs = await clientHandshake(conn, o.framerSize === undefined ? [] : [framerHeader(o.framerSize)], Math.max(1, connectTimeoutMs - (Date.now() - started)));
        const framer = hs.headers.get('mux-framer');
        if (framer !== undefined && framer.length === 4) peerMaxFrame = framer.readUInt32BE(0);
        early = hs.early;
      }
      const codec = new MuxClientCodec({ maxMessageBytes: maxFrameSize, peerMaxFrame });
      const session = new MuxClientSession<MuxRequest, MuxReply>(conn, codec, { maxAbandoned: o.maxAbandoned, maxInFlight: o.maxInFlight });
      // Merge small batches while the server has plenty to do (see batching.ts).
      conn.holdFlush = () => session.load >= MUX_HOLD_FACTOR * conn.batchedMessages;
      // The server's FIN comes after everything it will send: close now, so the pool reconnects.
      conn.onPeerEnd = () => conn.close(new ConnectionClosedError(`${conn.endpoint} closed the connection`, { endpoint: conn.endpoint }));
      const pingEvery = o.pingInterval ?? DEFAULT_PING_INTERVAL_MS;
      if (pingEvery > 0) {
        const pinger = new Pinger(conn, pingEvery, o.pingTimeout ?? DEFAULT_PING_TIMEOUT_MS);
        codec.onRping = () => pinger.pong();
        session.pinger = pinger;
        const sessionOnClose = conn.onClose;
        conn.onClose = (err) => {
          pinger.stop();
          sessionOnClose(err);
        };
      }
      for (const m of early) conn.onMessage(m);
      return session;
    },
    transportDescription: `${o.tls === undefined ? 'TCP' : 'TLS'}, mux (${handshake ? 'negotiated' : 'not negotiated'}), Thrift ${protocol.name}, tag-matched`,
    serializer: thriftMuxSerializerLayer(protocol, o.clientId),
    defaultPool: THRIFTMUX_DEFAULT_POOL,
    multiplexed: true,
    classifier: thriftMuxClassifier,
  };
}
