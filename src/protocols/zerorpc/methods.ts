/**
 * What a ZeroRPC server knows of its methods: the parameter names (for `_zerorpc_args`,
 * `_zerorpc_inspect` and Python-style arity errors), defaults, the doc string and whether the
 * method streams. Read from the function itself (its source's parameter list, like Python's
 * `inspect`) unless declared with `method(fn, { ... })`.
 */
import { InvalidArgumentError } from '../../core/errors.js';

export interface MethodInfo {
  /** Parameter names, in order (the request context is never one). */
  readonly args: readonly string[];
  /** Default values of the trailing parameters that have one (Python's `defaults`), or undefined. */
  readonly defaults: readonly unknown[] | undefined;
  /** The rest parameter's name (`...items`: Python's `*args`), or undefined. */
  readonly varargs: string | undefined;
  readonly doc: string | undefined;
  /** The method returns a stream (async or sync iterable): answered with STREAM events. */
  readonly stream: boolean;
}

export interface MethodDeclaration {
  readonly doc?: string;
  readonly stream?: boolean;
  /** Parameter names, when the function's own are not the ones to show. */
  readonly args?: readonly string[];
  readonly defaults?: readonly unknown[];
}

const DECLARED = Symbol.for('scales-rpc.zerorpc.method');

/**
 * Declares a handler method's metadata: `add: method((a, b = 2) => a + b, { doc: 'Add two numbers.' })`.
 * `stream: true` for a method returning an (async) iterable that is not a generator function.
 */
export function method<F extends (...args: never[]) => unknown>(fn: F, declaration: MethodDeclaration): F {
  if (typeof fn !== 'function') throw new InvalidArgumentError('method(fn, ...) needs a function');
  Object.defineProperty(fn, DECLARED, { value: declaration, enumerable: false });
  return fn;
}

/** Marks `fn` as a stream method. */
export function stream<F extends (...args: never[]) => unknown>(fn: F, doc?: string): F {
  return method(fn, { stream: true, doc });
}

const AsyncGeneratorFunction = Object.getPrototypeOf(async function* () {}).constructor as unknown;
const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor as unknown;

export function methodInfo(fn: (...args: never[]) => unknown): MethodInfo {
  const declared = (fn as unknown as Record<symbol, MethodDeclaration | undefined>)[DECLARED];
  const parsed = parseParameters(fn);
  const isGenerator = fn.constructor === AsyncGeneratorFunction || fn.constructor === GeneratorFunction;
  const args = declared?.args ?? parsed.args;
  return {
    args,
    defaults: declared?.defaults ?? (declared?.args !== undefined ? undefined : parsed.defaults),
    varargs: declared?.args !== undefined ? undefined : parsed.varargs,
    doc: declared?.doc,
    stream: declared?.stream ?? isGenerator,
  };
}

interface Parsed {
  args: string[];
  defaults: unknown[] | undefined;
  varargs: string | undefined;
}

/**
 * The parameter list of a function's source: names, literal defaults, the rest parameter. A last
 * parameter named `ctx` is the request context (not a remote argument). Destructured parameters
 * are named `arg<i>`; a default that is not a literal is shown as its source text.
 */
export function parseParameters(fn: (...args: never[]) => unknown): Parsed {
  const src = Function.prototype.toString.call(fn);
  const single = /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(src);
  const list = single !== null ? single[1]! : paramsText(src);
  const parts = splitTopLevel(list)
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const args: string[] = [];
  const defaults: unknown[] = [];
  let varargs: string | undefined;
  parts.forEach((p, i) => {
    if (p.startsWith('...')) {
      varargs = identifier(p.slice(3)) ?? `arg${i}`;
      return;
    }
    const eq = topLevelEquals(p);
    const name = identifier(eq < 0 ? p : p.slice(0, eq)) ?? `arg${i}`;
    args.push(name);
    if (eq >= 0) defaults.push(literal(p.slice(eq + 1).trim()));
    else if (defaults.length > 0) defaults.length = 0; // only trailing defaults count, as in Python
  });
  if (varargs === undefined && args[args.length - 1] === 'ctx') {
    args.pop();
    if (defaults.length > args.length) defaults.pop();
  }
  return { args, defaults: defaults.length > 0 ? defaults : undefined, varargs };
}

function paramsText(src: string): string {
  const open = src.indexOf('(');
  if (open < 0) return '';
  let depth = 0;
  let quote: string | undefined;
  for (let i = open; i < src.length; i++) {
    const c = src[i]!;
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) return src.slice(open + 1, i);
    }
  }
  return '';
}

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

function topLevelEquals(p: string): number {
  let depth = 0;
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === '=' && depth === 0 && p[i + 1] !== '>') return i;
  }
  return -1;
}

function identifier(s: string): string | undefined {
  const m = /^\s*([A-Za-z_$][\w$]*)\s*(?::.*)?$/s.exec(s);
  return m === null ? undefined : m[1];
}

function literal(text: string): unknown {
  if (text === 'undefined' || text === 'null') return null;
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(text)) return Number(text);
  if (/^'(?:[^'\\]|\\.)*'$/.test(text)) {
    try {
      return JSON.parse(`"${text.slice(1, -1).replace(/\\'/g, "'").replace(/"/g, '\\"')}"`) as unknown;
    } catch {
      return text;
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The handler's public methods (own and inherited, no leading `_`, not `constructor`), sorted as Python's `dir` does. */
export function publicMethods(handler: object): Map<string, (...args: unknown[]) => unknown> {
  const found = new Map<string, (...args: unknown[]) => unknown>();
  for (let o: object | null = handler; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === 'constructor' || name.startsWith('_') || found.has(name)) continue;
      const d = Object.getOwnPropertyDescriptor(o, name);
      if (d !== undefined && typeof d.value === 'function') found.set(name, d.value as (...args: unknown[]) => unknown);
    }
  }
  return new Map([...found.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Python's arity errors, word for word (`add() missing 1 required positional argument: 'a'`,
 * `add() takes from 1 to 2 positional arguments but 3 were given`), or undefined when `given` fits.
 */
export function arityError(name: string, info: MethodInfo, given: number): string | undefined {
  const total = info.args.length;
  const required = total - (info.defaults?.length ?? 0);
  if (given < required) {
    const missing = info.args.slice(given, required).map((a) => `'${a}'`);
    const list = missing.length === 1 ? missing[0]! : `${missing.slice(0, -1).join(', ')}${missing.length > 2 ? ',' : ''} and ${missing[missing.length - 1]}`;
    return `${name}() missing ${missing.length} required positional argument${missing.length === 1 ? '' : 's'}: ${list}`;
  }
  if (given > total && info.varargs === undefined) {
    const takes = required === total ? `${total}` : `from ${required} to ${total}`;
    return `${name}() takes ${takes} positional argument${total === 1 && required === total ? '' : 's'} but ${given} ${given === 1 ? 'was' : 'were'} given`;
  }
  return undefined;
}
