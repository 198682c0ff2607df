/**
 * `scales queue`: look into and feed the queues of docs/queue.md from a shell.
 *   scales queue peek  <dest> --idl jobs.thrift [--service S] [--count N] [--dead]   print the next call(s) as JSON, left in place
 *   scales queue send  <dest> --idl jobs.thrift Service.method '<json args>'          enqueue one call
 *   scales queue purge <dest> --yes [--dead]                                          delete every message
 *   scales queue stats <dest>                                                         depth, in flight, delayed, dead-lettered
 * `--group G` names the consumer group (Redis, NATS) whose view peek and stats take. The broker
 * modules are loaded only by this command.
 */
import type { BackendOptions, DeadLetter, QueueBackend } from '../protocols/queue/backend.js';
import type { ReceivedMessage } from '../protocols/queue/envelope.js';
import type { MethodDesc, ServiceDesc } from '../protocols/thrift/descriptors.js';
import type { CliIo } from './main.js';
import { UsageError } from './usage.js';

export interface QueueCliArgs {
  sub: 'peek' | 'send' | 'purge' | 'stats';
  dest: string;
  idl: string | undefined;
  service: string | undefined;
  group: string | undefined;
  count: number;
  dead: boolean;
  yes: boolean;
  /** send: `Service.method` and the JSON arguments. */
  call: string | undefined;
  json: string | undefined;
}

const SUBCOMMANDS = ['peek', 'send', 'purge', 'stats'] as const;

export function parseQueueArgs(argv: readonly string[]): QueueCliArgs {
  const [sub, ...rest] = argv;
  if (sub === undefined || !(SUBCOMMANDS as readonly string[]).includes(sub)) throw new UsageError(`queue: expected one of ${SUBCOMMANDS.join(', ')}, got '${sub ?? ''}'`);
  const a: QueueCliArgs = { sub: sub as QueueCliArgs['sub'], dest: '', idl: undefined, service: undefined, group: undefined, count: 1, dead: false, yes: false, call: undefined, json: undefined };
  const positional: string[] = [];
  const value = (i: number, flag: string): string => {
    const v = rest[i + 1];
    if (v === undefined) throw new UsageError(`queue ${sub}: ${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    switch (arg) {
      case '--idl':
        a.idl = value(i++, arg);
        break;
      case '--service':
        a.service = value(i++, arg);
        break;
      case '--group':
        a.group = value(i++, arg);
        break;
      case '-n':
      case '--count': {
        const n = Number(value(i++, arg));
        if (!(Number.isInteger(n) && n >= 1 && n <= 100)) throw new UsageError(`queue ${sub}: ${arg} takes 1..100`);
        a.count = n;
        break;
      }
      case '--dead':
        a.dead = true;
        break;
      case '--yes':
        a.yes = true;
        break;
      default:
        // JSON arguments may start with '-' only as a number: '-1' is not a flag.
        if (arg.startsWith('--')) throw new UsageError(`queue ${sub}: unknown option '${arg}'`);
        positional.push(arg);
    }
  }
  const want = sub === 'send' ? 3 : 1;
  if (positional.length !== want) {
    throw new UsageError(sub === 'send' ? "queue send: expected <dest> Service.method '<json args>'" : `queue ${sub}: expected one <dest>`);
  }
  a.dest = positional[0]!;
  if (sub === 'send') {
    a.call = positional[1];
    a.json = positional[2];
    if (a.idl === undefined) throw new UsageError('queue send: --idl <file.thrift> is required');
  }
  if (sub === 'peek' && a.idl === undefined) throw new UsageError('queue peek: --idl <file.thrift> is required (it decodes the message)');
  if (sub === 'purge' && !a.yes) throw new UsageError(`queue purge: refusing to delete every message of ${a.dest} without --yes`);
  return a;
}

export async function runQueue(a: QueueCliArgs, io: CliIo): Promise<number> {
  const { openBackend, redact } = await import('../protocols/queue/registry.js');
  if (a.sub === 'send') return send(a, io);
  // Looking must not create queues or groups; SQS's backend needs create to find a DLQ not yet made (stats, peek --dead).
  const options: BackendOptions = { group: a.group, create: a.dest.startsWith('sqs') ? undefined : false };
  const backend = await openBackend(a.dest, options);
  try {
    switch (a.sub) {
      case 'stats': {
        const s = await backend.stats();
        const n = (v: number | undefined): number | null => v ?? null;
        io.out(`${JSON.stringify({ destination: redact(a.dest), depth: n(s.depth), inFlight: n(s.inFlight), delayed: n(s.delayed), deadLettered: n(s.deadLettered) })}\n`);
        return 0;
      }
      case 'purge': {
        const n = await backend.purge(a.dead ? 'dead' : 'queue');
        io.out(`purged ${n === undefined ? 'every' : n} message${n === 1 ? '' : 's'} from ${a.dead ? 'the dead-letter queue of ' : ''}${redact(a.dest)}\n`);
        return 0;
      }
      default:
        return await peek(a, backend, io);
    }
  } finally {
    await backend.close();
  }
}

async function loadServices(idl: string): Promise<Record<string, ServiceDesc>> {
  const { loadIdlSync } = await import('../protocols/thrift/idl/index.js');
  const services = loadIdlSync(idl).services;
  if (Object.keys(services).length === 0) throw new UsageError(`${idl} declares no service`);
  return services;
}

/** The service to decode `method` with: --service, or the only one that has the method. */
function serviceFor(services: Record<string, ServiceDesc>, method: string, named: string | undefined): ServiceDesc | string {
  if (named !== undefined) {
    const s = services[named];
    if (s === undefined) throw new UsageError(`no service '${named}' in the IDL (services: ${Object.keys(services).join(', ')})`);
    return s;
  }
  const having = Object.values(services).filter((s) => Object.hasOwn(s.methods, method));
  if (having.length === 1) return having[0]!;
  if (having.length === 0) return `no service in the IDL has a method '${method}'`;
  return `method '${method}' is in ${having.map((s) => s.name).join(', ')}: pass --service`;
}

async function peek(a: QueueCliArgs, backend: QueueBackend, io: CliIo): Promise<number> {
  const services = await loadServices(a.idl!);
  const { decodeCallBody, newReader, queueProtocol } = await import('../protocols/queue/thrift-body.js');
  const { toJson } = await import('./thrift-json.js');
  const found = await backend.peek(a.count, a.dead ? 'dead' : 'queue');
  if (found.length === 0) {
    io.err(`${a.dead ? 'the dead-letter queue' : 'the queue'} is empty\n`);
    return 0;
  }
  const protocol = queueProtocol(backend.maxBodyBytes);
  const reader = newReader();
  for (const item of found) {
    const dead = a.dead ? (item as DeadLetter) : undefined;
    const m = dead?.message ?? (item as ReceivedMessage);
    const out: Record<string, unknown> = { id: m.id };
    if (dead !== undefined) Object.assign(out, { reason: dead.reason, detail: dead.detail });
    const attrs = m.attributes;
    if (typeof attrs === 'string') {
      out['error'] = `bad attributes: ${attrs}`;
    } else {
      const svc = serviceFor(services, attrs.method, a.service);
      if (typeof svc === 'string') out['error'] = svc;
      else if (m.body === undefined) out['error'] = 'the body is not readable (not base64)';
      else {
        const call = decodeCallBody(protocol, reader, svc, m.body, attrs.method);
        if ('method' in call) {
          out['call'] = `${svc.name}.${call.method.name}`;
          out['args'] = argsJson(call.method, call.args, toJson);
        } else out['error'] = `${call.reason}: ${call.detail}`;
      }
      out['attributes'] = {
        method: attrs.method,
        attempt: attrs.attempt,
        idempotencyKey: attrs.idempotencyKey || null,
        traceId: attrs.traceId ?? null,
        deadline: attrs.deadline === undefined ? null : new Date(attrs.deadline).toISOString(),
      };
    }
    out['size'] = m.size;
    if (out['error'] !== undefined && m.body !== undefined) out['bodyBase64'] = m.body.subarray(0, 4096).toString('base64');
    io.out(`${JSON.stringify(out, null, 2)}\n`);
  }
  return 0;
}

function argsJson(method: MethodDesc, args: readonly unknown[], toJson: (t: MethodDesc['args']['fields'][number]['type'], v: unknown) => unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  method.params.forEach((p, i) => {
    const f = method.args.fields.find((x) => x.name === p)!;
    out[p] = toJson(f.type, args[i]);
  });
  return out;
}

async function send(a: QueueCliArgs, io: CliIo): Promise<number> {
  const services = await loadServices(a.idl!);
  const m = /^([A-Za-z_][\w]*)\.([A-Za-z_]\w*)$/.exec(a.call ?? '');
  if (m === null) throw new UsageError(`queue send: expected Service.method, got '${a.call ?? ''}'`);
  const [, serviceName, methodName] = m as unknown as [string, string, string];
  const service = services[serviceName];
  if (service === undefined) throw new UsageError(`no service '${serviceName}' in ${a.idl} (services: ${Object.keys(services).join(', ')})`);
  const method = Object.hasOwn(service.methods, methodName) ? service.methods[methodName] : undefined;
  if (method === undefined) throw new UsageError(`${serviceName} has no method '${methodName}' (methods: ${Object.keys(service.methods).join(', ')})`);
  let parsed: unknown;
  try {
    // Integers past 2^53 would lose digits as JSON numbers: they are read as strings of digits (i64 takes those).
    parsed = JSON.parse((a.json ?? '').replace(/"(?:[^"\\]|\\.)*"|-?\d{16,}(?![.\deE])/g, (t) => (t.startsWith('"') ? t : `"${t}"`)));
  } catch (err) {
    throw new UsageError(`queue send: the arguments are not JSON: ${(err as Error).message}`);
  }
  const { structFromJson, JsonValueError } = await import('./thrift-json.js');
  // Arguments by name ({"id": 1}), or positional ([1, "x"]).
  const byName = Array.isArray(parsed) ? Object.fromEntries(parsed.map((v, i) => [method.params[i] ?? `#${i + 1}`, v])) : parsed;
  if (Array.isArray(parsed) && parsed.length > method.params.length) throw new UsageError(`${methodName} takes ${method.params.length} arguments, got ${parsed.length}`);
  let values: Record<string, unknown>;
  try {
    values = structFromJson(method.args, byName, methodName);
  } catch (err) {
    if (err instanceof JsonValueError) throw new UsageError(err.message);
    throw err;
  }
  const { Queue } = await import('../protocols/queue/index.js');
  const client = Queue.newClient(service, a.dest, { methods: [methodName], group: a.group, retries: false }) as unknown as Record<string, (...args: unknown[]) => Promise<void>> & {
    $close(): Promise<void>;
  };
  try {
    await client[methodName]!(...method.params.map((p) => values[p]));
  } finally {
    await client.$close();
  }
  const { redact } = await import('../protocols/queue/registry.js');
  io.out(`sent ${serviceName}.${methodName} to ${redact(a.dest)}\n`);
  return 0;
}
