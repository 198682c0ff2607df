import { defaultLogger, safeLog } from '../core/logger.js';
import { StatsRegistry, type StatsScope } from '../stats/registry.js';

/** Where discovery says what happened: every state change (info), skipped records (warn), failures (error). */
export type DiscoveryLog = (level: 'info' | 'warn' | 'error', message: string) => void;

/** The default: the process-wide default logger (one line each on stderr, rate-limited; see core/logger.ts). */
export const logDiscoveryToStderr: DiscoveryLog = (level, message) => {
  safeLog(defaultLogger(), level, { kind: `discovery ${level}` }, `discovery: ${message}`);
};

/**
 * The registry discovery counts in when none is given (sets made from destination strings):
 * one scope per set, `discovery=<uri>`.
 */
export const discoveryStats = new StatsRegistry();

/** The logger and stats scope of one discovery object. */
export interface Observer {
  readonly log: DiscoveryLog;
  readonly scope: StatsScope;
}

export function observer(label: string, log: DiscoveryLog | false | undefined, stats: StatsRegistry | undefined, key = 'discovery'): Observer {
  const sink = log === false ? () => {} : (log ?? logDiscoveryToStderr);
  // A throwing hook must not break discovery.
  const safe: DiscoveryLog = (level, message) => {
    try {
      sink(level, `${label}: ${message}`);
    } catch {}
  };
  return { log: safe, scope: (stats ?? discoveryStats).scope(key, label) };
}
