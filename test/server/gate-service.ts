// A service whose calls wait on gates the test opens, over real TCP:
//   service Gate {
//     string wait(1: string id)        // returns id once gate `id` opens
//     oneway void hold(1: string id)   // returns once gate `id` opens
//     string echo(1: string s)         // sync
//     string fail(1: string s)         // throws Nope (declared) for 'nope', else an Error
//   }
import { BufferWriter } from '../../src/core/bytes.js';
import { binaryProtocol, MessageType, T, ThriftException, type CallOptions, type ServerCallContext, type ServiceDesc, type StructDesc } from '../../src/protocols/thrift/index.js';
import { method } from './odd-service.js';

export interface GateClient {
  wait(id: string, options?: CallOptions): Promise<string>;
  hold(id: string, options?: CallOptions): Promise<void>;
  echo(s: string, options?: CallOptions): Promise<string>;
  fail(s: string, options?: CallOptions): Promise<string>;
}

export class Nope extends ThriftException {
  constructor(fields: Record<string, unknown> = {}) {
    super('Nope', fields);
  }
}
const NopeDesc: StructDesc = { name: 'Nope', kind: 'exception', fields: [{ id: 1, name: 'message', type: T.string, requiredness: 'default' }], create: (f) => new Nope(f) };

const fail = method('fail', false, [['s', 1, T.string]], T.string);
export const GateService: ServiceDesc<GateClient, GateHandler> = {
  name: 'Gate',
  methods: {
    wait: method('wait', false, [['id', 1, T.string]], T.string),
    hold: method('hold', true, [['id', 1, T.string]], undefined),
    echo: method('echo', false, [['s', 1, T.string]], T.string),
    fail: { ...fail, result: { ...fail.result, fields: [...fail.result.fields, { id: 1, name: 'nope', type: T.struct(() => NopeDesc), requiredness: 'optional' }] } },
  },
};

export type GateHandler = Record<'wait' | 'hold' | 'echo' | 'fail', (...args: never[]) => unknown>;

/** Gates by id, plus what each handler saw of its context. */
export class Gates {
  private readonly open = new Map<string, () => void>();
  readonly started: string[] = [];
  readonly contexts = new Map<string, ServerCallContext>();
  readonly aborted = new Map<string, unknown>();

  waitFor(id: string, ctx: ServerCallContext): Promise<void> {
    this.started.push(id);
    this.contexts.set(id, ctx);
    ctx.signal.addEventListener('abort', () => this.aborted.set(id, ctx.signal.reason), { once: true });
    return new Promise((resolve) => this.open.set(id, resolve));
  }

  release(id: string): void {
    this.open.get(id)?.();
    this.open.delete(id);
  }

  releaseAll(): void {
    for (const id of [...this.open.keys()]) this.release(id);
  }

  handler(): GateHandler {
    return {
      wait: async (id: string, ctx: ServerCallContext) => {
        await this.waitFor(id, ctx);
        return id;
      },
      hold: async (id: string, ctx: ServerCallContext) => {
        await this.waitFor(id, ctx);
      },
      echo: (s: string) => s,
      fail: (s: string) => {
        throw s === 'nope' ? new Nope({ message: 'declared' }) : new Error(`crash ${s}`);
      },
    };
  }
}

const binary = binaryProtocol();

/** A framed binary message calling `name` with one string argument (field 1). */
export function rawCall(name: string, type: number, seqid: number, arg: string): Buffer {
  const w = new BufferWriter(64 + arg.length);
  binary.writeMessageHeader(w, name, type as 1, seqid);
  binary.writeStruct(w, { name: 'a', kind: 'struct', fields: [{ id: 1, name: 's', type: T.string, requiredness: 'default' }] }, { s: arg });
  const body = w.takeCopy();
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

export { MessageType };
