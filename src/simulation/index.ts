export { hashNumber, hashTraceKey, type TraceKey } from './hash.js'
export { computeNextUses, denseIds, optHitCounts, optHits } from './opt.js'
export { PerfectLfuPolicy } from './policies/lfu.js'
export { Random } from './random.js'
export * from './readers/index.js'
export { formatCsv, formatJson, formatTable, type ReportSource } from './report.js'
export { SimulatedCache } from './sim-cache.js'
export {
  type CacheSize,
  defaultPolicyFactory,
  fileTraceSource,
  keysTraceSource,
  OPT,
  type PolicyFactory,
  type PolicyResult,
  parseCacheSize,
  resolveCapacity,
  SIMULATED_POLICIES,
  type SimulateOptions,
  type SimulationProgress,
  type SimulationResult,
  simulate,
  syntheticTraceSource,
  type TraceSource,
} from './simulate.js'
export {
  describeSyntheticSpec,
  parseSyntheticSpec,
  SYNTHETIC_KINDS,
  type SyntheticKind,
  type SyntheticSpec,
  syntheticBatches,
  syntheticKeys,
} from './synthetic.js'
export { fnv64Mod, ScrambledZipfianGenerator, ZipfianGenerator, zeta } from './zipf.js'
