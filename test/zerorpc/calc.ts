// The service the ZeroRPC tests serve: the same shape as the recorded zerorpc-python `Calc`.
import { method, NamedError, type ServerCallContext } from '../../src/protocols/zerorpc/index.js';

export class Calc {
  /** Streams started and stopped early (aborts reach the server's iterator). */
  readonly events: string[] = [];

  add = method((a: number, b = 2) => a + b, { doc: 'Add two numbers.' });

  echo(x: unknown): unknown {
    return x;
  }

  boom(): never {
    throw new NamedError('ValueError', 'bad thing');
  }

  async *count(n: number): AsyncGenerator<number> {
    try {
      for (let i = 0; i < n; i++) yield i;
    } finally {
      this.events.push(`count(${n}) ended`);
    }
  }

  async slow(ms: number, ctx: ServerCallContext): Promise<string> {
    this.events.push(`slow(${ms}) started`);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(t);
        this.events.push(`slow(${ms}) aborted`);
        reject(ctx.signal.reason);
      });
    });
    return 'done';
  }

  /** An endless stream that stops only when aborted. */
  async *forever(ctx: ServerCallContext): AsyncGenerator<number> {
    let i = 0;
    try {
      while (!ctx.signal.aborted) {
        yield i++;
        await new Promise((r) => setTimeout(r, 1));
      }
    } finally {
      this.events.push('forever ended');
    }
  }
}

/** The remote interface as a client sees it. */
export interface CalcApi {
  add(a: number, b?: number): number;
  echo<T>(x: T): T;
  boom(): never;
  count(n: number): AsyncIterable<number>;
  slow(ms: number): string;
  forever(): AsyncIterable<number>;
}
