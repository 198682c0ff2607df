import type { BufferReader, BufferWriter } from '../../core/bytes.js';
import type { MessageType, StructDesc } from './descriptors.js';
import type { KnownNames } from './known-names.js';

export interface MessageHeader {
  name: string;
  type: MessageType;
  seqid: number;
}

/** Limits a decoder enforces so a hostile peer can never make us allocate what it claims. */
export interface DecodeLimits {
  /** Deepest struct/container nesting accepted (default 64). */
  maxDepth: number;
  /** Longest string/binary accepted in bytes (default: the frame limit). */
  maxStringLength: number;
  /** Most elements in one container (default 16 Mi). Also bounded by the bytes remaining. */
  maxContainerSize: number;
  /**
   * Heap bytes one message may decode to, per byte of the message (default 8), plus
   * `decodeBudgetBase`.
   * Each string, binary, struct, container and element is charged its measured V8 heap cost
   * (an empty struct ~56 B, a list slot 8 B, an empty Map 184 B, a Buffer 192 B + its bytes);
   * skipping is charged as if decoded. Past the budget: DecodeBudgetError (a ProtocolError).
   */
  maxDecodeFactor: number;
  /**
   * Heap bytes every message may decode to on top of the factor (default 8 MiB): messages up to
   * about 1 MiB are never refused whatever they hold.
   */
  decodeBudgetBase: number;
}

/**
 * One Thrift wire protocol (binary or compact). Readers throw `BufferUnderflow` when input ends
 * early and `ProtocolError` for malformed input; writers throw `InvalidArgumentError` for values
 * that do not fit their descriptor (missing required field, wrong type, out of range).
 */
export interface ThriftProtocol {
  readonly name: 'binary' | 'compact';
  writeMessageHeader(w: BufferWriter, name: string, type: MessageType, seqid: number): void;
  /** `known`: names expected here; a match is returned as that string instead of a decoded one. */
  readMessageHeader(r: BufferReader, known?: KnownNames): MessageHeader;
  writeStruct(w: BufferWriter, desc: StructDesc, value: object): void;
  readStruct(r: BufferReader, desc: StructDesc): object;
  /** Skips one struct of any shape (unknown method arguments, unframed message boundaries). */
  skipStruct(r: BufferReader): void;
}
