export { timeoutLayer } from './timeout.js';
export {
  backoffDelays,
  cappedBackoff,
  constantBackoff,
  equalJitterBackoff,
  exponentialBackoff,
  fullJitterBackoff,
  noBackoff,
  type Backoff,
  type JitterOptions,
  type Random,
} from './backoff.js';
export { isRetryable } from './classifier.js';
export { RETRY_BUDGET_DEFAULTS, RetryBudget, WindowedCounter, type RetryBudgetOptions } from './retry-budget.js';
export {
  FailureAccrualService,
  failureAccrualLayer,
  type FailureAccrualOptions,
  type NodeState,
  type SuccessRateOptions,
} from './failure-accrual.js';
export { RetriesService, RetryStats, retriesLayer, type RetriesLayer, type RetriesOptions } from './retries.js';
export { HedgingService, HedgingStats, hedgingLayer, type HedgingLayer, type HedgingOptions } from './hedging.js';
