/**
 * Plain Thrift sessions on the Mux port answer in request order (as Finagle's server does, and as
 * clients that pipeline with seqid 0 need): an answer ready before those of earlier requests is
 * encoded aside and written once they are. Requests are numbered as they are read; oneway ones
 * get no number (no answer). The Thrift codec writes into a sink with the Connection's writing
 * surface, so its encoders are reused as they are.
 */
import { BufferWriter } from '../../core/bytes.js';
import type { Connection } from '../../transport/index.js';

/** What the Thrift server codec uses of a Connection when it writes one answer. */
class CaptureSink {
  readonly writer = new BufferWriter(256);
  beginMessage(): number {
    return this.writer.pos;
  }
  endMessage(): void {}
  abortMessage(mark: number): void {
    this.writer.pos = mark;
  }
}

export class InOrderAnswers {
  private next = 0;
  private flushTo = 0;
  private readonly held = new Map<number, Buffer>();
  private readonly numbers = new WeakMap<object, number>();
  private sink: CaptureSink | undefined = undefined;

  /** Numbers a request that will be answered (call it in read order). */
  number(req: object): void {
    this.numbers.set(req, this.next++);
  }

  /** Answers: `write` now when `req` is next in line (then whatever waited behind it), else later. */
  answer(conn: Connection, req: object, write: (out: Connection) => void): void {
    const n = this.numbers.get(req);
    if (n === undefined || n === this.flushTo) {
      write(conn);
      if (n === undefined) return;
      this.numbers.delete(req);
      this.flushTo++;
      for (let bytes = this.held.get(this.flushTo); bytes !== undefined; bytes = this.held.get(this.flushTo)) {
        this.held.delete(this.flushTo);
        const mark = conn.beginMessage();
        conn.writer.writeBytes(bytes);
        conn.endMessage(mark);
        this.flushTo++;
      }
      return;
    }
    const sink = (this.sink ??= new CaptureSink());
    sink.writer.reset();
    write(sink as unknown as Connection); // a throw leaves the request's number unused: its error answer takes it
    this.held.set(n, sink.writer.takeCopy());
    this.numbers.delete(req);
  }
}
