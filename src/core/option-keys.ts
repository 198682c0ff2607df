import { InvalidArgumentError } from './errors.js';

/** Every key of `Options`, each once: the compiler refuses a list that misses one or names one too many. */
export type OptionKeyList<Options> = { readonly [K in keyof Required<Options>]: true };

/** `optionKeys<MyOptions>({ ...SHARED_KEYS, mine: true })`: the known keys as a set. */
export function optionKeys<Options>(keys: OptionKeyList<Options>): ReadonlySet<string> {
  return new Set(Object.keys(keys));
}

/**
 * Refuses an option key that is not known: JavaScript callers (and `as` casts) get past the
 * types, and a typo such as `maxConcurent` would otherwise be ignored without a word.
 */
export function refuseUnknownKeys(options: object, known: ReadonlySet<string>, what: string): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw new InvalidArgumentError(`${what}: unknown option '${key}'; the known options are: ${[...known].join(', ')}`);
  }
}
