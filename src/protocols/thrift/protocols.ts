import { InvalidArgumentError } from '../../core/errors.js';
import { binaryProtocol } from './binary.js';
import { compactProtocol } from './compact.js';
import type { DecodeLimits, ThriftProtocol } from './protocol.js';

export type ThriftProtocolKind = 'binary' | 'compact';

/** The protocol instance for a kind; string limits follow the frame limit unless `decodeLimits` sets them. */
export function makeProtocol(kind: ThriftProtocolKind, maxFrameSize: number | undefined, decodeLimits?: Partial<DecodeLimits>): ThriftProtocol {
  const limits = { ...(maxFrameSize === undefined ? undefined : { maxStringLength: maxFrameSize }), ...decodeLimits };
  if (kind === 'binary') return binaryProtocol({ limits });
  if (kind === 'compact') return compactProtocol({ limits });
  throw new InvalidArgumentError(`protocol must be 'binary' or 'compact', got '${String(kind)}'`);
}
