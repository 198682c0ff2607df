/**
 * zerorpc's one-way patterns: Pusher/Puller (PUSH/PULL: each event to one puller) and
 * Publisher/Subscriber (PUB/SUB: each event to every subscriber, subscribed to everything).
 * An event is a call without a reply: `msgpack([header, method, args])` in a single frame. Either
 * side may bind or connect. A PUB socket drops what it sends before a subscriber is known
 * (ZeroMQ's slow joiner): publish once subscribers had time to connect.
 */
import { InvalidArgumentError, ProtocolError, ScalesError } from '../../core/errors.js';
import { report, type ErrorHook } from '../../server/safe.js';
import { logToStderr } from '../../server/filters/logging.js';
import { encodeEvent, eventDecoder, MessageIds, PROTOCOL_VERSION } from './events.js';
import { publicMethods } from './methods.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from './msgpack.js';
import { DEFAULT_MAX_QUEUED, loadZmq, MessageSocket, type ZmqSocket } from './socket.js';

export interface OneWayOptions {
  readonly bind?: string | readonly string[];
  readonly connect?: string | readonly string[];
  /** Largest message accepted (receivers), bytes; default 16 MiB. */
  readonly maxMessageSize?: number;
  /** Events queued for sending before sends fail with OverloadedError (default 10,000). */
  readonly maxQueued?: number;
}

export interface ReceiverOptions extends OneWayOptions {
  /** Handler failures, unknown methods and bad events (default: logged to stderr). */
  readonly onError?: ErrorHook;
}

/** The sending side: each method queues one event and resolves (no reply exists). */
export type OneWayClient<T> = {
  [K in keyof T as K extends string ? K : never]: T[K] extends (...args: infer A) => unknown ? (...args: A) => Promise<void> : never;
} & {
  /** The addresses bound (real ports), if any. */
  readonly $endpoints: readonly string[];
  $close(): Promise<void>;
};

export interface Receiver {
  readonly endpoints: readonly string[];
  /** Events received, handled, failed (thrown, unknown method) and dropped (malformed). */
  readonly counts: { readonly received: number; readonly failed: number; readonly dropped: number };
  close(): Promise<void>;
}

function list(v: string | readonly string[] | undefined): string[] {
  return v === undefined ? [] : typeof v === 'string' ? [v] : [...v];
}

async function attach(socket: ZmqSocket | import('zeromq').Push | import('zeromq').Pull | import('zeromq').Publisher | import('zeromq').Subscriber, o: OneWayOptions): Promise<string[]> {
  const binds = list(o.bind);
  const connects = list(o.connect);
  if (binds.length + connects.length === 0) throw new InvalidArgumentError('ZeroRPC: give bind or connect addresses');
  const endpoints: string[] = [];
  for (const b of binds) {
    await socket.bind(b);
    endpoints.push(socket.lastEndpoint ?? b);
  }
  for (const c of connects) socket.connect(c);
  return endpoints;
}

async function sender<T>(kind: 'push' | 'pub', o: OneWayOptions): Promise<OneWayClient<T>> {
  const zmq = await loadZmq();
  const socket = kind === 'push' ? new zmq.Push({ linger: 0 }) : new zmq.Publisher({ linger: 0 });
  let endpoints: string[];
  try {
    endpoints = await attach(socket, o);
  } catch (err) {
    socket.close();
    throw err instanceof ScalesError ? err : new InvalidArgumentError(`ZeroRPC ${kind}: ${(err as Error).message}`, { cause: err });
  }
  const ms = new MessageSocket(
    socket,
    () => {},
    () => {},
    o.maxQueued ?? DEFAULT_MAX_QUEUED,
    false,
  );
  const ids = new MessageIds();
  const fns = new Map<string, (...args: unknown[]) => Promise<void>>();
  const target = { $endpoints: endpoints, $close: async () => ms.close() };
  return new Proxy(target, {
    get(t, prop) {
      if (typeof prop !== 'string') return undefined;
      if (prop.startsWith('$')) return (t as Record<string, unknown>)[prop];
      if (prop === 'then' || prop === 'toJSON') return undefined;
      let fn = fns.get(prop);
      if (fn === undefined) {
        fn = (...args: unknown[]) => {
          try {
            ms.send([encodeEvent({ message_id: ids.next(), v: PROTOCOL_VERSION }, prop, args)]);
            return Promise.resolve();
          } catch (err) {
            return Promise.reject(err);
          }
        };
        fns.set(prop, fn);
      }
      return fn;
    },
  }) as unknown as OneWayClient<T>;
}

async function receiver(kind: 'pull' | 'sub', handler: object, o: ReceiverOptions): Promise<Receiver> {
  const zmq = await loadZmq();
  const maxMessageSize = o.maxMessageSize ?? DEFAULT_MAX_MESSAGE_SIZE;
  const socket = kind === 'pull' ? new zmq.Pull({ linger: 0, maxMessageSize }) : new zmq.Subscriber({ linger: 0, maxMessageSize });
  if (socket instanceof zmq.Subscriber) socket.subscribe();
  let endpoints: string[];
  try {
    endpoints = await attach(socket, o);
  } catch (err) {
    socket.close();
    throw err instanceof ScalesError ? err : new InvalidArgumentError(`ZeroRPC ${kind}: ${(err as Error).message}`, { cause: err });
  }
  const methods = publicMethods(handler);
  const decode = eventDecoder(maxMessageSize);
  const onError = o.onError ?? logToStderr;
  const counts = { received: 0, failed: 0, dropped: 0 };
  const failed = (err: unknown, what: string) => {
    counts.failed++;
    report(onError, err, what);
  };
  const ms = new MessageSocket(
    socket,
    (_head, buf, start, end) => {
      let ev: ReturnType<typeof decode>;
      try {
        ev = decode(buf.subarray(start, end));
      } catch (err) {
        counts.dropped++;
        report(onError, err, `ZeroRPC ${kind} input`);
        return;
      }
      counts.received++;
      const fn = methods.get(ev.name);
      if (fn === undefined) return failed(new ProtocolError(`no method '${ev.name.slice(0, 128)}'`), `ZeroRPC ${kind}`);
      try {
        const r = fn.apply(handler, Array.isArray(ev.args) ? ev.args : [ev.args]);
        if (r instanceof Promise) r.catch((err: unknown) => failed(err, `${ev.name}`));
      } catch (err) {
        failed(err, ev.name);
      }
    },
    () => {},
  );
  return { endpoints, counts, close: async () => ms.close() };
}

/** A PUSH socket: each event goes to one puller (round-robin among them). */
export function pusher<T = Record<string, (...args: unknown[]) => unknown>>(o: OneWayOptions): Promise<OneWayClient<T>> {
  return sender<T>('push', o);
}
/** A PULL socket calling `handler`'s methods with each event's arguments. */
export function puller(handler: object, o: ReceiverOptions): Promise<Receiver> {
  return receiver('pull', handler, o);
}
/** A PUB socket: each event goes to every subscriber connected at the time. */
export function publisher<T = Record<string, (...args: unknown[]) => unknown>>(o: OneWayOptions): Promise<OneWayClient<T>> {
  return sender<T>('pub', o);
}
/** A SUB socket subscribed to everything, calling `handler`'s methods. */
export function subscriber(handler: object, o: ReceiverOptions): Promise<Receiver> {
  return receiver('sub', handler, o);
}
