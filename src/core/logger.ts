/**
 * Where Scales says what would otherwise be silent: handler crashes, protocol mismatches, frames
 * over the limit, connections its limits closed, discovery and node state changes.
 *
 * The signature is pino's (`logger.warn({ err, endpoint }, 'message')`), so a pino (or bunyan,
 * or any object with these four methods) logger plugs in as it is. The default writes one line
 * per event to stderr through `console`, at most a few lines per kind of event per window, so a
 * flood of bad connections cannot flood the log. `false` (or `setDefaultLogger(false)`) silences it.
 */
import { describeValue, InvalidArgumentError } from './errors.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The fields Scales puts in a log record (all optional; loggers may ignore any of them). */
export interface LogFields {
  /** The error, when the event is one (pino serializes `err`). */
  err?: unknown;
  /** What kind of event: the key of the rate limit ('handler', 'protocol', 'limits', 'discovery', 'node', ...). */
  kind?: string;
  /** The peer or node concerned, `host:port`. */
  endpoint?: string;
  [field: string]: unknown;
}

export interface Logger {
  debug(obj: LogFields, msg?: string): void;
  info(obj: LogFields, msg?: string): void;
  warn(obj: LogFields, msg?: string): void;
  error(obj: LogFields, msg?: string): void;
}

export interface ConsoleLoggerOptions {
  /** Least level written (default 'info'; 'debug' adds peers that went away and idle closes). */
  level?: LogLevel;
  /** Lines per kind of event per window before the rest are only counted (default 10). */
  perKind?: number;
  /** The rate limit's window in ms (default 10000). */
  windowMs?: number;
  /** Prefix of every line (default 'scales'). */
  prefix?: string;
  /** Where lines go (default console.error). */
  write?: (line: string) => void;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * One line per event on stderr, `scales warn: <msg>: <err message>`, rate-limited per kind of
 * event (`obj.kind`, else the message): past `perKind` lines in `windowMs` the rest are counted,
 * and the next line of that kind says how many were left out. No timer: nothing keeps the
 * process alive.
 */
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const min = LEVELS[options.level ?? 'info'];
  const perKind = options.perKind ?? 10;
  const windowMs = options.windowMs ?? 10_000;
  const prefix = options.prefix ?? 'scales';
  const write = options.write ?? ((line: string) => console.error(line));
  const windows = new Map<string, { start: number; lines: number; dropped: number }>();
  const log = (level: LogLevel, obj: LogFields, msg: string | undefined): void => {
    if (LEVELS[level] < min) return;
    const key = `${level}:${typeof obj?.kind === 'string' ? obj.kind : (msg ?? '')}`;
    const now = Date.now();
    let w = windows.get(key);
    if (w === undefined || now - w.start >= windowMs) {
      const dropped = w?.dropped ?? 0;
      if (windows.size >= 1000) windows.clear(); // kinds are few; a bound all the same
      w = { start: now, lines: 0, dropped };
      windows.set(key, w);
    }
    if (w.lines >= perKind) {
      w.dropped++;
      return;
    }
    w.lines++;
    const left = w.dropped > 0 ? ` (${w.dropped} more like it were left out)` : '';
    w.dropped = 0;
    write(`${prefix} ${level}: ${formatLine(obj, msg)}${left}`);
  };
  return {
    debug: (obj, msg) => log('debug', obj, msg),
    info: (obj, msg) => log('info', obj, msg),
    warn: (obj, msg) => log('warn', obj, msg),
    error: (obj, msg) => log('error', obj, msg),
  };
}

/** `msg: err.message`, never throwing on odd values. */
function formatLine(obj: LogFields, msg: string | undefined): string {
  const err = obj?.err;
  if (err === undefined) return msg ?? '';
  let text: string;
  try {
    const m = (err as { message?: unknown }).message;
    text = typeof m === 'string' ? m : describeValue(err);
  } catch {
    text = '<unprintable error>';
  }
  return msg === undefined || msg === '' ? text : `${msg}: ${text}`;
}

let fallback: Logger = consoleLogger();

/** The logger every Scales object uses when its options name none. */
export function defaultLogger(): Logger {
  return fallback;
}

/**
 * Replaces the process-wide default logger (a pino instance, `consoleLogger({ level: 'debug' })`),
 * or silences it with `false`. Objects given their own `logger` option keep theirs.
 */
export function setDefaultLogger(logger: Logger | false): void {
  fallback = logger === false ? silentLogger : checkLogger(logger);
}

/** `logger` option → the logger to use: its own, silent for `false`, else the default. */
export function resolveLogger(logger: Logger | false | undefined): Logger {
  if (logger === false) return silentLogger;
  if (logger === undefined) return fallback;
  return checkLogger(logger);
}

function checkLogger(logger: Logger): Logger {
  for (const level of Object.keys(LEVELS) as LogLevel[]) {
    if (typeof (logger as unknown as Record<string, unknown>)?.[level] !== 'function') {
      throw new InvalidArgumentError(`logger must have debug, info, warn and error functions (pino's signature), got ${describeValue(logger)}`);
    }
  }
  return logger;
}

/** Calls the logger; whatever it throws is dropped (a log line must never take a server down). */
export function safeLog(logger: Logger, level: LogLevel, obj: LogFields, msg: string): void {
  try {
    logger[level](obj, msg);
  } catch {
    // nothing left to tell
  }
}
