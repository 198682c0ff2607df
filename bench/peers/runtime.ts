/**
 * The Scales code the benchmark peers run: the compiled package in dist/ (what users run) by
 * default, so `npm run bench` builds first. BENCH_FROM_SRC=1 runs the TypeScript sources through
 * tsx instead — its esbuild transform wraps every closure it creates in a `__name()` call
 * (keepNames), which roughly doubles the client stack's per-call cost and is not what ships.
 */
type ThriftIndex = typeof import('../../src/protocols/thrift/index.js');
type CoreService = typeof import('../../src/core/service.js');
type Serializer = typeof import('../../src/protocols/thrift/serializer.js');
type Session = typeof import('../../src/protocols/thrift/session.js');
type Framing = typeof import('../../src/protocols/thrift/framing.js');
type Transport = typeof import('../../src/transport/index.js');

export interface ScalesModules {
  readonly thrift: ThriftIndex;
  readonly service: CoreService;
  readonly serializer: Serializer;
  readonly session: Session;
  readonly framing: Framing;
  readonly transport: Transport;
  /** 'dist' or 'src'. */
  readonly from: string;
}

/** Which Scales code the benchmarks run: `src`, `dist` or BENCH_DIST=<dir> (another build, e.g. the code before a change, for an A/B run). */
export function scalesBuild(): string {
  return process.env['BENCH_FROM_SRC'] === '1' ? 'src' : (process.env['BENCH_DIST'] ?? 'dist');
}

/** A module of that build, by its path below it (`client/stack.js`). */
export function loadScales<T>(path: string): Promise<T> {
  return import(new URL(`../../${scalesBuild()}/${path}`, import.meta.url).href) as Promise<T>;
}

export async function scalesModules(): Promise<ScalesModules> {
  const from = scalesBuild();
  const load = loadScales;
  const [thrift, service, serializer, session, framing, transport] = await Promise.all([
    load<ThriftIndex>('protocols/thrift/index.js'),
    load<CoreService>('core/service.js'),
    load<Serializer>('protocols/thrift/serializer.js'),
    load<Session>('protocols/thrift/session.js'),
    load<Framing>('protocols/thrift/framing.js'),
    load<Transport>('transport/index.js'),
  ]);
  return { thrift, service, serializer, session, framing, transport, from };
}
