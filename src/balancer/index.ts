export type { BalancerNode, Picker } from './types.js';
export { Balancer, type BalancerOptions } from './balancer.js';
export { Rng } from './random.js';
export { RoundRobinPicker } from './round-robin.js';
export { HeapPicker } from './heap.js';
export { DEFAULT_MAX_EFFORT, P2CPicker, TwoChoicePicker, type TwoChoiceOptions } from './p2c.js';
export { DEFAULT_DECAY_TIME, PeakEwmaPicker, type PeakEwmaOptions } from './p2c-ewma.js';
export { APERTURE_DEFAULTS, AperturePicker, type ApertureOptions } from './aperture.js';
export { checkPickerOptions, describePicker, makePicker, type PickerKind, type PickerOptions } from './pickers.js';
