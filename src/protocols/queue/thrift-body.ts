/**
 * Thrift bodies of queue messages: one whole binary-protocol message (header with seqid 0, then
 * the `<method>_args` struct), the bytes Apache Thrift's own libraries write for a call.
 */
import { BufferReader, BufferUnderflow, BufferWriter } from '../../core/bytes.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { describeError } from '../../server/safe.js';
import { DecodeBudgetError } from '../thrift/codec-shared.js';
import { MessageType, type MethodDesc, type ServiceDesc } from '../thrift/descriptors.js';
import type { ThriftProtocol } from '../thrift/protocol.js';
import { makeProtocol } from '../thrift/protocols.js';
import { clip, type DeadLetterReason } from './envelope.js';

/**
 * Why a method cannot go through a queue, or undefined when it can: `oneway` and `void` methods
 * can (a void method's declared exceptions are the handler refusing the call for good: the
 * consumer dead-letters it, reason `rejected`); a method returning a value cannot, since no
 * answer comes back.
 */
export function whyNotQueueable(m: MethodDesc): string | undefined {
  if (m.oneway) return undefined;
  if (m.result.fields.some((f) => f.id === 0)) return `${m.name} returns a value`;
  return undefined;
}

/** Refuses a service with any method a queue cannot carry, naming each (at build time). */
export function checkQueueable(service: ServiceDesc, methods?: readonly string[]): void {
  const names = methods ?? Object.keys(service.methods);
  const bad: string[] = [];
  for (const n of names) {
    const m = Object.hasOwn(service.methods, n) ? service.methods[n] : undefined;
    if (m === undefined) bad.push(`${n} is not a method of ${service.name}`);
    else {
      const why = whyNotQueueable(m);
      if (why !== undefined) bad.push(why);
    }
  }
  if (bad.length > 0) {
    throw new InvalidArgumentError(
      `${service.name} cannot be called through a queue: only oneway and void methods can (the call resolves when the broker accepts the message; no answer comes back). ${bad.join('; ')}. Pass { methods: [...] } to use a subset.`,
    );
  }
}

export function queueProtocol(maxBodyBytes: number): ThriftProtocol {
  return makeProtocol('binary', maxBodyBytes);
}

/** Encodes a call into a whole message (the writer is reused: the result is a copy). */
export function encodeCallBody(protocol: ThriftProtocol, w: BufferWriter, method: MethodDesc, args: object): Buffer {
  try {
    protocol.writeMessageHeader(w, method.name, method.oneway ? MessageType.ONEWAY : MessageType.CALL, 0);
    protocol.writeStruct(w, method.args, args);
    return w.takeCopy();
  } catch (err) {
    w.reset();
    throw err;
  }
}

/** A body decoded into the handler's positional arguments (plus one free slot for the context). */
export interface DecodedCall {
  readonly method: MethodDesc;
  readonly args: unknown[];
}

export interface BodyRejection {
  readonly reason: DeadLetterReason;
  readonly detail: string;
}

const EMPTY = Buffer.alloc(0);

/** Decodes a body for `service`, or says why the message is dead. Never throws. */
export function decodeCallBody(protocol: ThriftProtocol, r: BufferReader, service: ServiceDesc, body: Buffer, attributeMethod: string): DecodedCall | BodyRejection {
  r.buf = body;
  r.pos = 0;
  r.end = body.length;
  try {
    let header: { name: string; type: number };
    try {
      header = protocol.readMessageHeader(r);
    } catch (err) {
      if (err instanceof BufferUnderflow) return { reason: body.length < 12 ? 'not-thrift' : 'truncated', detail: 'the body ends inside the Thrift message header' };
      return { reason: 'not-thrift', detail: `not a Thrift binary message: ${describeError(err)}` };
    }
    if (header.type !== MessageType.CALL && header.type !== MessageType.ONEWAY) {
      return { reason: 'not-thrift', detail: `Thrift message type ${header.type}, expected CALL (1) or ONEWAY (4)` };
    }
    if (header.name !== attributeMethod) {
      return { reason: 'bad-attributes', detail: `method attribute '${clip(attributeMethod)}' but the body calls '${clip(header.name)}'` };
    }
    const method = Object.hasOwn(service.methods, header.name) ? service.methods[header.name] : undefined;
    if (method === undefined) return { reason: 'unknown-method', detail: `${service.name} has no method '${clip(header.name)}'` };
    const why = whyNotQueueable(method);
    if (why !== undefined) return { reason: 'not-oneway', detail: why };
    let fields: Record<string, unknown>;
    try {
      fields = protocol.readStruct(r, method.args) as Record<string, unknown>;
    } catch (err) {
      if (err instanceof BufferUnderflow) return { reason: 'truncated', detail: `the body ends inside the arguments of ${method.name}` };
      if (err instanceof DecodeBudgetError) return { reason: 'too-large', detail: `the arguments of ${method.name} decode past the budget: ${err.message}` };
      return { reason: 'not-thrift', detail: `bad arguments for ${method.name}: ${describeError(err)}` };
    }
    const params = method.params;
    const args: unknown[] = new Array(params.length + 1);
    for (let i = 0; i < params.length; i++) args[i] = fields[params[i]!];
    return { method, args };
  } finally {
    r.buf = EMPTY;
  }
}

export function newReader(): BufferReader {
  return new BufferReader(EMPTY);
}
export function newWriter(): BufferWriter {
  return new BufferWriter(4096);
}
