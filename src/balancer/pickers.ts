import { InvalidArgumentError } from '../core/errors.js';
import { APERTURE_DEFAULTS, AperturePicker } from './aperture.js';
import { HeapPicker } from './heap.js';
import { DEFAULT_DECAY_TIME, PeakEwmaPicker } from './p2c-ewma.js';
import { DEFAULT_MAX_EFFORT, P2CPicker } from './p2c.js';
import { RoundRobinPicker } from './round-robin.js';
import type { BalancerNode, Picker } from './types.js';

/** The load-balancing algorithms (round-robin is accepted too, by makePicker). */
export type PickerKind = 'heap' | 'aperture' | 'p2c' | 'p2c-ewma';

/** Options of every picker; each kind accepts only the ones that apply to it (and `seed`). */
export interface PickerOptions {
  /** PRNG seed (default random): same seed + same calls → same picks. */
  seed?: number;
  /** p2c, p2c-ewma, aperture: rounds of two draws before a scan (default 5, Finagle's). */
  maxEffort?: number;
  /** p2c-ewma: latency average time constant in ms (default 10 000, Finagle's). */
  decayTime?: number;
  /** aperture: narrow when smoothed load per node ≤ this (default 0.5, Scales/Finagle). */
  lowLoad?: number;
  /** aperture: widen when smoothed load per node ≥ this (default 2.0, Scales/Finagle). */
  highLoad?: number;
  /** aperture: fewest open nodes in the window (default 1). */
  minSize?: number;
  /** aperture: time constant of the smoothed load in ms (default 5000, Scales/Finagle). */
  smoothWindow?: number;
  /** aperture: slide the window by one node every jitter..2×jitter ms (default 120 000; 0 = never). */
  jitter?: number;
  /** aperture: close the sessions of a node outside the window after this many idle ms (default 10 × smoothWindow, Finagle's; 0 = never). */
  idleTime?: number;
}

type OptionName = keyof PickerOptions;

const APPLIES: Record<PickerKind | 'round-robin', readonly OptionName[]> = {
  'round-robin': ['seed'],
  heap: ['seed'],
  p2c: ['seed', 'maxEffort'],
  'p2c-ewma': ['seed', 'maxEffort', 'decayTime'],
  aperture: ['seed', 'maxEffort', 'lowLoad', 'highLoad', 'minSize', 'smoothWindow', 'jitter', 'idleTime'],
};

const ALL_OPTIONS: readonly OptionName[] = APPLIES.aperture.concat(['decayTime']);

function fail(message: string): never {
  throw new InvalidArgumentError(`load balancer: ${message}`);
}

function checkKind(kind: string): asserts kind is PickerKind | 'round-robin' {
  if (!Object.hasOwn(APPLIES, kind)) fail(`unknown kind '${kind}' (expected one of ${Object.keys(APPLIES).join(', ')})`);
}

function isInt(v: number): boolean {
  return Number.isSafeInteger(v);
}

/** Throws InvalidArgumentError unless `options` suit `kind`. */
export function checkPickerOptions(kind: PickerKind | 'round-robin', options: PickerOptions = {}): void {
  checkKind(kind);
  const applies = APPLIES[kind];
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!(ALL_OPTIONS as readonly string[]).includes(name)) fail(`unknown option '${name}' (known: ${ALL_OPTIONS.join(', ')})`);
    if (!(applies as readonly string[]).includes(name)) fail(`option '${name}' does not apply to ${kind} (it takes ${applies.join(', ')})`);
    if (typeof value !== 'number' || Number.isNaN(value)) fail(`${name} must be a number, got ${String(value)}`);
  }
  const o = options;
  if (o.seed !== undefined && !isInt(o.seed)) fail(`seed must be an integer, got ${o.seed}`);
  if (o.maxEffort !== undefined && !(isInt(o.maxEffort) && o.maxEffort >= 1)) fail(`maxEffort must be an integer ≥ 1, got ${o.maxEffort}`);
  if (o.decayTime !== undefined && !(o.decayTime > 0 && Number.isFinite(o.decayTime))) fail(`decayTime must be a positive number of ms, got ${o.decayTime}`);
  if (o.minSize !== undefined && !(isInt(o.minSize) && o.minSize >= 1)) fail(`minSize must be an integer ≥ 1, got ${o.minSize}`);
  if (o.smoothWindow !== undefined && !(o.smoothWindow >= 0 && Number.isFinite(o.smoothWindow))) fail(`smoothWindow must be ≥ 0 ms, got ${o.smoothWindow}`);
  if (o.jitter !== undefined && !(o.jitter >= 0 && Number.isFinite(o.jitter))) fail(`jitter must be ≥ 0 ms, got ${o.jitter}`);
  if (o.idleTime !== undefined && !(o.idleTime >= 0 && Number.isFinite(o.idleTime))) fail(`idleTime must be ≥ 0 ms, got ${o.idleTime}`);
  const low = o.lowLoad ?? APERTURE_DEFAULTS.lowLoad;
  const high = o.highLoad ?? APERTURE_DEFAULTS.highLoad;
  if (!(low >= 0 && Number.isFinite(low))) fail(`lowLoad must be ≥ 0, got ${low}`);
  if (!(high > low && Number.isFinite(high))) fail(`highLoad must be a number above lowLoad (${low}), got ${high}`);
}

/** A fresh picker of `kind`; bad options throw InvalidArgumentError. */
export function makePicker<N extends BalancerNode>(kind: PickerKind | 'round-robin', options: PickerOptions = {}): Picker<N> {
  checkPickerOptions(kind, options);
  switch (kind) {
    case 'round-robin':
      return new RoundRobinPicker<N>();
    case 'heap':
      return new HeapPicker<N>();
    case 'p2c':
      return new P2CPicker<N>(options);
    case 'p2c-ewma':
      return new PeakEwmaPicker<N>(options);
    case 'aperture':
      return new AperturePicker<N>(options);
  }
}

/** One line for describe(): the algorithm and its effective settings. */
export function describePicker(kind: PickerKind | 'round-robin', options: PickerOptions = {}): string {
  checkPickerOptions(kind, options);
  const effort = `maxEffort ${options.maxEffort ?? DEFAULT_MAX_EFFORT}`;
  const seed = options.seed === undefined ? '' : `, seed ${options.seed}`;
  switch (kind) {
    case 'round-robin':
      return `round-robin (open nodes in turn${seed})`;
    case 'heap':
      return `heap (least loaded, min-heap${seed})`;
    case 'p2c':
      return `p2c (power of two choices, least loaded; ${effort}${seed})`;
    case 'p2c-ewma':
      return `p2c-ewma (power of two choices, peak EWMA latency × load; decayTime ${options.decayTime ?? DEFAULT_DECAY_TIME} ms, ${effort}${seed})`;
    case 'aperture': {
      const a = { ...APERTURE_DEFAULTS, ...stripUndefined(options) };
      const idle = options.idleTime ?? a.smoothWindow * APERTURE_DEFAULTS.idleWindows;
      return (
        `aperture (p2c least loaded over a window of ≥ ${a.minSize} node(s), load band [${a.lowLoad}, ${a.highLoad}] ` +
        `smoothed over ${a.smoothWindow} ms, ${a.jitter > 0 ? `slides every ${a.jitter}–${2 * a.jitter} ms` : 'no rotation'}, ` +
        `${idle > 0 ? `sessions outside it closed after ${idle} ms idle` : 'sessions outside it kept'}; ${effort}${seed})`
      );
    }
  }
}

function stripUndefined(o: PickerOptions): PickerOptions {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}
