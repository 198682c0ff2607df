/**
 * What an outcome means, decided by the protocol (Finagle's ResponseClassifier): the generic
 * layers (stats, retries, hedging, failure accrual) ask the classifier their stack was built
 * with and know nothing of any protocol's errors.
 *
 * The default table, for a rejection:
 *
 * | rejection                                 | class     | stats code          | why                                      |
 * |-------------------------------------------|-----------|---------------------|------------------------------------------|
 * | DeclaredError (an IDL exception)          | success   | USER_EXCEPTION      | the server answered, as the IDL says     |
 * | ScalesError SCALES_ERR_CANCELLED          | ignored   | CANCELLED           | the caller gave up: not the node's fault |
 * | any other ScalesError (timeout, closed..) | failure   | its code, no prefix | (APPLICATION for a remote app error)     |
 * | anything else (a bug, a foreign error)    | failure   | UNKNOWN             |                                          |
 *
 * A resolved reply is a success with no code unless the protocol says otherwise (an HTTP 5xx, a
 * raw Thrift EXCEPTION message below the serializer). `retryable` is a failure the protocol
 * knows was refused before any work was done (a Mux NACK, a server's overload rejection): the
 * retries role may send it to another node whatever the method's idempotency.
 */
import { DeclaredError, isScalesError } from './errors.js';

export type ResponseClass = 'success' | 'failure' | 'retryable' | 'ignored';

export interface ResponseClassifier {
  /** `ok`: `outcome` is the reply; else it is the rejection. */
  classify(ok: boolean, outcome: unknown): ResponseClass;
  /** The stats code of an outcome: undefined for a plain success (see the table above). */
  code(ok: boolean, outcome: unknown): string | undefined;
}

/** Stats code of a declared (IDL) exception: counted as a success and apart. */
export const USER_EXCEPTION = 'USER_EXCEPTION';

/** Class of a rejection by the default table. */
export function classifyError(err: unknown): ResponseClass {
  if (err instanceof DeclaredError) return 'success';
  if (isScalesError(err) && err.code === 'SCALES_ERR_CANCELLED') return 'ignored';
  return 'failure';
}

/** Stats code of a rejection: the ScalesError code without `SCALES_ERR_`, USER_EXCEPTION, or UNKNOWN. */
export function outcomeCode(err: unknown): string {
  if (isScalesError(err)) return err.code.startsWith('SCALES_ERR_') ? err.code.slice(11) : err.code;
  if (err instanceof DeclaredError) return USER_EXCEPTION;
  return 'UNKNOWN';
}

/** What a protocol overrides; what it leaves out follows the default table. */
export interface ClassifierParts {
  /** Class of a resolved reply (default 'success'). */
  reply?: (rep: unknown) => ResponseClass;
  /** Stats code of a resolved reply (default undefined: a plain success). */
  replyCode?: (rep: unknown) => string | undefined;
  /** Class of a rejection, or undefined to fall back to the default table. */
  error?: (err: unknown) => ResponseClass | undefined;
}

class Classifier implements ResponseClassifier {
  constructor(private readonly parts: ClassifierParts) {}

  classify(ok: boolean, outcome: unknown): ResponseClass {
    const p = this.parts;
    if (ok) return p.reply === undefined ? 'success' : p.reply(outcome);
    return (p.error === undefined ? undefined : p.error(outcome)) ?? classifyError(outcome);
  }

  code(ok: boolean, outcome: unknown): string | undefined {
    if (ok) return this.parts.replyCode === undefined ? undefined : this.parts.replyCode(outcome);
    return outcomeCode(outcome);
  }
}

/** A classifier from the parts a protocol overrides: `classifier({ reply: (r) => ... })`. */
export function classifier(parts: ClassifierParts = {}): ResponseClassifier {
  return new Classifier(parts);
}

/** Every reply a success; rejections by the default table. */
export const defaultClassifier: ResponseClassifier = classifier();
