/**
 * The ZeroRPC client on the shared stack: stats → timeout → retries → load balancer (one channel
 * per call, on the server the balancer picked) → failure accrual → singleton pool → a DEALER
 * session per server.
 *
 *   const calc = ZeroRpc.newClient<Calc>('tcp://127.0.0.1:4242');
 *   await calc.add(1, 2);                                   // typed proxy
 *   for await (const n of await calc.count(10)) ...         // streams are async iterators
 *   await calc.$with({ timeout: 100, signal }).add(1, 2);  // per-call options
 */
import { ClientBuilderBase, optionKeys, STACK_OPTION_KEYS, type StackEdit } from '../../client/builder.js';
import type { ClientStackOptions } from '../../client/options.js';
import type { ClientControl } from '../../client/proxy.js';
import { clientStack, type ProtocolParts } from '../../client/stack.js';
import { classifier, type ResponseClassifier } from '../../core/classify.js';
import { newCallContext, type CallOptions } from '../../core/context.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { Service } from '../../core/service.js';
import type { Endpoint } from '../../discovery/endpoint.js';
import { resolveDestination } from '../../discovery/resolve.js';
import { StaticServerSet, type ServerSet } from '../../discovery/serverset.js';
import type { CurveClientOptions } from './curve.js';
import { RemoteError } from './errors.js';
import { DEFAULT_HEARTBEAT_MS } from './heartbeat.js';
import { ZeroClientSession, type ZeroCall, type ZeroSessionOptions } from './session.js';
import type { ZeroStream } from './stream.js';

/** zerorpc's default client timeout (ms): it covers the first reply of a call, not a stream's items. */
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface ZeroClientOptions extends ClientStackOptions, ZeroSessionOptions {}

/** What a remote method's promise resolves to: a stream for methods returning (async) iterables. */
export type ZeroResult<R> =
  R extends AsyncIterable<infer X> ? ZeroStream<X> : R extends Iterable<infer X> ? (R extends string | Uint8Array | readonly unknown[] ? Awaited<R> : ZeroStream<X>) : Awaited<R>;

/** The client side of interface `T`: each method takes the same positional arguments and returns a promise. */
export type ZeroMethods<T> = {
  [K in keyof T as K extends string ? K : never]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<ZeroResult<Awaited<R>>> : never;
};

export interface ZeroControl<T> extends ClientControl {
  /** The same client with per-call options (timeout, deadline, signal) for the calls made through it. */
  $with(options: CallOptions): ZeroClient<T>;
  /** Calls any method by name. */
  $call(method: string, args?: readonly unknown[], options?: CallOptions): Promise<unknown>;
}

export type ZeroClient<T> = ZeroMethods<T> & ZeroControl<T>;

/** A client for exploration: any property is a remote method. */
export type UntypedZeroClient = ZeroClient<Record<string, (...args: unknown[]) => unknown>>;

/**
 * Remote exceptions: the server answered, so failure accrual keeps the node (like a declared
 * Thrift exception); an `OverloadedError` answer was not run and may go to another server.
 */
export const zeroClassifier: ResponseClassifier = classifier({
  error: (e) => (e instanceof RemoteError ? (e.remoteName === 'OverloadedError' ? 'retryable' : 'success') : undefined),
});

export function zeroParts(o: ZeroClientOptions): ProtocolParts<ZeroCall, unknown> {
  const hb = o.heartbeat ?? DEFAULT_HEARTBEAT_MS;
  return {
    connect: (endpoint: Endpoint, connectTimeout: number) => ZeroClientSession.connect(endpoint, connectTimeout, o),
    transportDescription: `${o.transport === 'zeromq' || o.curve !== undefined ? 'ZeroMQ DEALER (zeromq binding)' : 'ZMTP DEALER (ours on tcp://, the zeromq binding on ipc:// and inproc://)'}, ZeroRPC v3 channels, heartbeat ${hb === false ? 'off' : `${hb} ms`}${o.curve !== undefined ? ', CURVE' : ''}`,
    defaultPool: { kind: 'singleton' },
    multiplexed: true,
    classifier: zeroClassifier,
  };
}

/** `tcp://h:p,h:p`, a registered scheme, or ZeroMQ's own `ipc://path` / `inproc://name` (comma-separated). */
export function zeroDestination(dest: string | ServerSet): { serverSet: ServerSet; label: string } {
  if (typeof dest === 'string' && /^(ipc|inproc):\/\//i.test(dest.trim())) {
    const uris = dest
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    const endpoints: Endpoint[] = uris.map((uri) => {
      const scheme = uri.slice(0, uri.indexOf(':')).toLowerCase();
      if (scheme !== 'ipc' && scheme !== 'inproc') throw new InvalidArgumentError(`cannot mix '${uri}' with ipc:// or inproc:// endpoints in '${dest}'`);
      return { scheme, uri };
    });
    return { serverSet: new StaticServerSet(endpoints), label: dest };
  }
  return resolveDestination(dest);
}

const ZERORPC_OPTION_KEYS = optionKeys<ZeroClientOptions>({
  ...STACK_OPTION_KEYS,
  heartbeat: true,
  maxMessageSize: true,
  maxQueued: true,
  curve: true,
  onError: true,
  transport: true,
  handshakeTimeout: true,
});

export class ZeroRpcClientBuilder extends ClientBuilderBase<ZeroRpcClientBuilder, ZeroClientOptions> {
  constructor(options: ZeroClientOptions = {}, edits: readonly StackEdit[] = []) {
    super(options, edits, { optionKeys: ZERORPC_OPTION_KEYS });
  }
  protected copy(options: ZeroClientOptions, edits: readonly StackEdit[]): ZeroRpcClientBuilder {
    return new ZeroRpcClientBuilder(options, edits);
  }
  /** Heartbeat interval in ms (default 5000), or false (Python servers then drop calls longer than ~10 s). */
  withHeartbeat(heartbeat: number | false): ZeroRpcClientBuilder {
    return this.with({ heartbeat });
  }
  withCurve(curve: CurveClientOptions): ZeroRpcClientBuilder {
    return this.with({ curve });
  }
  withMaxMessageSize(maxMessageSize: number): ZeroRpcClientBuilder {
    return this.with({ maxMessageSize });
  }

  build<T = Record<string, (...args: unknown[]) => unknown>>(dest: string | ServerSet): ZeroClient<T> {
    const o = this.options;
    const hb = o.heartbeat;
    if (hb !== undefined && hb !== false && !(typeof hb === 'number' && hb > 0)) throw new InvalidArgumentError(`heartbeat must be a positive number of ms or false, got ${String(hb)}`);
    const { serverSet, label } = zeroDestination(dest);
    const built = clientStack(zeroParts(o), o, serverSet, `zerorpc@${label}`);
    const stack = this.applyEdits(built.stack);
    const service = stack.build<ZeroCall, unknown>();
    const control = {
      stack,
      stats: built.stats,
      close: async () => {
        await service.close();
        serverSet.close();
      },
    };
    return makeProxy<T>(service, control, o.timeout ?? DEFAULT_TIMEOUT_MS, undefined);
  }
}

interface Control {
  readonly stack: ClientControl['$stack'];
  readonly stats: ClientControl['$stats'];
  close(): Promise<void>;
}

/**
 * A Proxy whose every string property is a remote method (cached per name). `then` is not one,
 * so the client can be returned from an async function; `$`-names are the control surface.
 */
function makeProxy<T>(service: Service<ZeroCall, unknown>, control: Control, timeout: number, options: CallOptions | undefined): ZeroClient<T> {
  const call = (method: string, args: readonly unknown[], opts: CallOptions | undefined): Promise<unknown> => {
    try {
      return service.call({ method, args }, newCallContext(method, opts, timeout));
    } catch (err) {
      return Promise.reject(err);
    }
  };
  // Remote methods are found by a Proxy in the client's prototype chain, which then puts each on
  // the client itself: later calls read a plain own property (a trap on every call cost ~40 ns).
  const methods = new Proxy(Object.create(null) as object, {
    get(_t, prop, receiver: object) {
      if (typeof prop !== 'string' || prop.startsWith('$') || prop === 'then' || prop === 'toJSON' || prop === '__proto__') return undefined;
      const fn = (...args: unknown[]) => call(prop, args, options);
      // A client the caller froze keeps working, through this trap on every call.
      if (Object.isExtensible(receiver)) Object.defineProperty(receiver, prop, { value: fn, configurable: true });
      return fn;
    },
  });
  const client = Object.create(methods) as Record<string, unknown>;
  client['$stack'] = control.stack;
  client['$stats'] = control.stats;
  client['$close'] = () => control.close();
  client['$with'] = (opts: CallOptions) => makeProxy<T>(service, control, timeout, { ...options, ...opts });
  client['$call'] = (method: string, args: readonly unknown[] = [], opts?: CallOptions) => call(method, args, opts ?? options);
  return client as unknown as ZeroClient<T>;
}
