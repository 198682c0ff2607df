import type { IncomingHttpHeaders } from 'node:http';
import { FrameTooLargeError } from '../../core/errors.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';

export type HttpBody = string | Uint8Array;

/** What travels down the HTTP client stack. */
export interface HttpRequest {
  readonly method: HttpMethod;
  /** Path and query, starting with '/'. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: HttpBody;
}

/**
 * A response body over `maxResponseBytes` (code SCALES_ERR_FRAME_TOO_LARGE, as every size
 * limit): the message speaks of the body and names the option, HTTP has no frames.
 */
export function responseTooLarge(size: number, limit: number, endpoint: string): FrameTooLargeError {
  return new FrameTooLargeError(size, limit, { endpoint }, `the response body from ${endpoint} is over maxResponseBytes (${limit} bytes): ${size} bytes read so far`);
}

/** A response read in full (bounded by `maxResponseBytes`). Any status is a response, not an error. */
export class HttpResponse {
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly body: Buffer,
  ) {}

  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }

  text(): string {
    return this.body.toString('utf8');
  }

  json<T = unknown>(): T {
    return JSON.parse(this.text()) as T;
  }
}
