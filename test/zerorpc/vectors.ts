// The recorded zerorpc-python conversations (test/fixtures/zerorpc-vectors/, copied from the
// team's shared folder so that a clean clone has them), with their JSON notation
// ({$bin: hex}, {$map: [[k, v]...]}, {$int: decimal}) turned into the values our codec uses.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface VectorFrame {
  readonly dir: 'client->server' | 'server->client';
  readonly payload_hex: string;
  readonly decoded: unknown;
  readonly t?: number;
}
export interface Conversation {
  readonly scenario: string;
  readonly note: string;
  readonly frames: readonly VectorFrame[];
  readonly client_result?: unknown;
}

const here = dirname(fileURLToPath(import.meta.url));
/** Test data in the repository (not part of the package). */
export const VECTORS_DIR = join(here, '..', 'fixtures', 'zerorpc-vectors');

export function loadConversations(file: 'python-client.json' | 'python-server.json'): Conversation[] {
  const path = join(VECTORS_DIR, file);
  if (!existsSync(path)) throw new Error(`recorded vectors missing: ${path}`);
  return (JSON.parse(readFileSync(path, 'utf8')) as { conversations: Conversation[] }).conversations;
}

/** The JSON notation as values: bin → Buffer, map → object, big ints → BigInt. */
export function fromNotation(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromNotation);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o.$bin === 'string') return Buffer.from(o.$bin, 'hex');
    if (typeof o.$int === 'string') return BigInt(o.$int);
    if (Array.isArray(o.$map)) return Object.fromEntries((o.$map as [string, unknown][]).map(([k, x]) => [k, fromNotation(x)]));
  }
  return v;
}
