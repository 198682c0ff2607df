export { Histogram, HISTOGRAM_BUCKETS, type HistogramSnapshot } from './histogram.js';
export {
  Counter,
  Gauge,
  StatsRegistry,
  StatsScope,
  type NodeState,
  type ScopeSnapshot,
  type StateChange,
  type StatsRegistryOptions,
  type StatsSnapshot,
} from './registry.js';
export { statsLayer, type StatsLayerOptions } from './layer.js';
