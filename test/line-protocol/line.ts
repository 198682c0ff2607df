// "Adding a protocol", worked: a tiny line protocol, client and server, built only from the
// public extension points of `scales-rpc` (src/index.ts). Every message is one line of text:
//   call   C <tag> <method> <json args>      reply  R <tag> <json result>
//   error  E <tag> <kind> <message>          (kind: internal | timeout | overloaded | unknown)
// The session matches replies by tag; the shared stacks bring deadlines, cancellation, load
// balancing, failure accrual, retries, stats, and on the server limits and drain.
import {
  ClientBuilderBase,
  clientStack,
  classifier,
  Connection,
  createClientProxy,
  listenStream,
  logToStderr,
  MultiplexedSession,
  OverloadedError,
  ProtocolError,
  ScalesError,
  ServerDispatcher,
  serverStack,
  StatsRegistry,
  UnknownMethod,
  resolveDestination,
  tcpAddress,
  type ClientControl,
  type ClientStackOptions,
  type Framing,
  type HandlerFn,
  type MultiplexedCodec,
  type ProtocolParts,
  type ServerCodec,
  type ServerErrorKind,
  type ServerRequest,
  type ServerService,
  type SessionControl,
  type StackEdit,
  type StreamServer,
} from '../../src/index.js';

export interface LineCall {
  readonly method: string;
  readonly args: unknown[];
}

/** A failure the server reported; `kind` says which. */
export class LineError extends ScalesError {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super('SCALES_ERR_APPLICATION', `${kind}: ${message}`);
  }
}

const NEWLINE = 0x0a;
const MAX_LINE = 1 << 20;
/** One message per line: its length is up to and including the newline (-1: need more bytes). */
const framing: Framing = {
  kind: 'measured',
  measure: (buf, start, end) => {
    const nl = buf.indexOf(NEWLINE, start);
    return nl < 0 || nl >= end ? -1 : nl - start + 1;
  },
};

function writeLine(conn: Connection, line: string): void {
  const mark = conn.beginMessage();
  conn.writer.writeUtf8(`${line.replaceAll('\n', ' ')}\n`);
  conn.endMessage(mark);
}

/** Splits `<a> <b> <c> <rest...>`: the fixed fields, then the remainder of the line. */
function fields(message: Buffer, n: number): string[] {
  const parts = message.toString('utf8', 0, message.length - 1).split(' ');
  if (parts.length < n) throw new ProtocolError(`expected ${n} fields, got ${parts.length}`);
  return [...parts.slice(0, n - 1), parts.slice(n - 1).join(' ')];
}

// ---- client ------------------------------------------------------------------------------------

class LineClientCodec implements MultiplexedCodec<LineCall, unknown> {
  readonly tags = { first: 1, last: 0xffff, order: 'lowest' } as const;
  oneway(): undefined {
    return undefined;
  }
  write(conn: Connection, req: LineCall, tag: number): void {
    writeLine(conn, `C ${tag} ${req.method} ${JSON.stringify(req.args)}`);
  }
  read(message: Buffer, s: SessionControl<LineCall, unknown>): void {
    const [type, tag, rest] = fields(message, 3) as [string, string, string];
    if (type === 'R') return s.reply(Number(tag), JSON.parse(rest) as unknown);
    if (type !== 'E') return s.violation(`unknown message type '${type}'`);
    const [kind, text] = fields(Buffer.from(`${rest}\n`), 2) as [string, string];
    s.fail(Number(tag), kind === 'overloaded' ? new OverloadedError(text) : new LineError(kind, text));
  }
}

export const lineParts: ProtocolParts<LineCall, unknown> = {
  connect: async (endpoint, connectTimeoutMs) => {
    const a = tcpAddress(endpoint, 'the line protocol');
    const conn = await Connection.connect(a.host, a.port, { framing, maxFrameSize: MAX_LINE, connectTimeoutMs, endpoint: `${a.host}:${a.port}` });
    return new MultiplexedSession(conn, new LineClientCodec());
  },
  transportDescription: 'TCP, one JSON call per line, tag-matched',
  defaultPool: { kind: 'singleton' },
  multiplexed: true,
  // A refusal at the limit did not run the call: retry it elsewhere, whatever the method.
  classifier: classifier({ error: (e) => (e instanceof OverloadedError ? 'retryable' : undefined) }),
};

export type LineClient<T> = { [K in keyof T]: (...args: unknown[]) => Promise<unknown> } & ClientControl;

export class LineClientBuilder extends ClientBuilderBase<LineClientBuilder, ClientStackOptions> {
  constructor(
    private readonly methods: readonly string[],
    options: ClientStackOptions = {},
    edits: readonly StackEdit[] = [],
  ) {
    super(options, edits);
  }
  protected copy(options: ClientStackOptions, edits: readonly StackEdit[]): LineClientBuilder {
    return new LineClientBuilder(this.methods, options, edits);
  }
  /** `arity`: how many positional arguments each method takes (one more is the call options). */
  build<T>(dest: string, arity: number): LineClient<T> {
    const { serverSet } = resolveDestination(dest);
    const built = clientStack(lineParts, this.options, serverSet, `line@${dest}`);
    const stack = this.applyEdits(built.stack);
    const methods = this.methods.map((name) => ({ name, arity, toCall: (...args: unknown[]): LineCall => ({ method: name, args }) }));
    return createClientProxy<LineCall, LineClient<T>>(methods, stack.build<LineCall, unknown>(), stack, this.options.timeout, built.stats, () => serverSet.close());
  }
}

// ---- server ------------------------------------------------------------------------------------

interface LineRequest extends ServerRequest {
  readonly tag: number;
}

class LineServerCodec implements ServerCodec<Buffer, Connection, LineRequest> {
  constructor(private readonly methods: ReadonlyMap<string, HandlerFn>) {}
  decode(message: Buffer): LineRequest | UnknownMethod {
    const [type, tag, method, json] = fields(message, 4) as [string, string, string, string];
    if (type !== 'C' || !/^\d+$/.test(tag)) throw new ProtocolError('expected C <tag> <method> <args>');
    if (!this.methods.has(method)) return new UnknownMethod(method.slice(0, 128), Number(tag), false);
    const args = JSON.parse(json) as unknown;
    if (!Array.isArray(args)) throw new ProtocolError('arguments must be a JSON array');
    return { tag: Number(tag), method, args: [...args, undefined], oneway: false, deadline: undefined, values: undefined };
  }
  writeReply(out: Connection, req: LineRequest, value: unknown): void {
    writeLine(out, `R ${req.tag} ${JSON.stringify(value ?? null)}`);
  }
  isDeclared(): boolean {
    return false;
  }
  writeDeclared(out: Connection, req: LineRequest): void {
    this.writeError(out, req, 'internal', 'no declared errors');
  }
  writeError(out: Connection, req: LineRequest, kind: ServerErrorKind, message: string): void {
    writeLine(out, `E ${req.tag} ${kind} ${message}`);
  }
  writeOverloaded(out: Connection, req: LineRequest, message: string): void {
    writeLine(out, `E ${req.tag} overloaded ${message}`);
  }
  writeUnknown(out: Connection, call: UnknownMethod): void {
    writeLine(out, `E ${String(call.tag)} unknown no method '${call.name}'`);
  }
}

export interface LineServer extends StreamServer {
  readonly stats: StatsRegistry;
}

/** Serves `handler`'s methods: each gets the decoded arguments, then the request context. */
export async function serveLine(handler: Record<string, HandlerFn>, o: { requestTimeout?: number; maxConcurrent?: number; quiet?: boolean } = {}): Promise<LineServer> {
  const methods = new Map(Object.entries(handler));
  const codec = new LineServerCodec(methods);
  const stats = new StatsRegistry();
  const onError = o.quiet === true ? undefined : logToStderr;
  const stack = serverStack<LineRequest>({
    serviceName: 'line',
    target: handler,
    methods,
    stats: stats.scope('server', 'line'),
    requestTimeout: o.requestTimeout,
    maxConcurrent: o.maxConcurrent,
    onError,
    defaultLogger: onError !== undefined,
    isDeclared: () => false,
    exposeErrors: true,
    propagateContext: true,
  });
  const dispatcher = new ServerDispatcher<Connection, LineRequest>(codec, stack.build() as unknown as ServerService<LineRequest>, { maxConcurrentPerConnection: 64, onError });
  const server = await listenStream(dispatcher, { host: '127.0.0.1', port: 0, framing, maxFrameSize: MAX_LINE });
  return Object.assign(server, { stats });
}
