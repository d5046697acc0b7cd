/**
 * stratacache: an in-process L1 and a Redis L2 behind one getOrSet. The public surface is this
 * file; subpaths `stratacache/redis` and `stratacache/serializers` expose the pluggable parts.
 */

export type { WaitUntil } from './base/background.js'
export { type Duration, parseDuration } from './base/duration.js'
export { Cache, createCache } from './core/cache.js'
export type { CacheEventListener, CacheEventName, CacheEvents, InvalidationEvent } from './core/events.js'
export type { DeepReadonly, Isolation } from './core/isolation.js'
export {
  type CacheOptions,
  DEFAULTS,
  type EntryOptions,
  type Factory,
  type FactoryContext,
  type GetOrSetManyOptions,
  type GetOrSetOptions,
  type L1Options,
  type L2Options,
  type ObservabilityOptions,
  type TtlOption,
  type WriteThroughOptions,
} from './core/options.js'
export type { StandardSchemaV1 } from './core/standard-schema.js'
export {
  ClosedError,
  errors,
  FactoryError,
  FactoryHardTimeoutError,
  InvalidKeyError,
  InvalidOptionError,
  L2Error,
  L2TimeoutError,
  L2UnavailableError,
  SerializationError,
  StrataError,
  type StrataErrorCode,
  ValueTooLargeError,
  WriteBehindFullError,
  WriteBehindNotReplicatedError,
  WriteBehindTimeoutError,
} from './errors.js'
export {
  DEFAULT_MAX_KEY_BYTES,
  defineKeys,
  escapeGlob,
  escapePart,
  type KeyPart,
  key,
  shortenKey,
} from './keys/key.js'
export {
  assertPattern,
  KeyTooLongError,
  LIMIT_DEFAULTS,
  TooManyTagsError,
  tenantScope,
} from './keys/limits.js'
export {
  EVENT_CHANNEL_NAME,
  type EventMessage,
  OPERATION_CHANNEL_NAME,
  type OperationContext,
  type TracedOperation,
} from './observability/channels.js'
export type { Diagnosis, Finding, FindingKind } from './observability/diagnose.js'
export { type AlertThresholds, DEFAULT_THRESHOLDS } from './observability/health.js'
export { parseSnapshot, type SnapshotSource, subscribeSnapshots } from './observability/publisher.js'
export type { CacheStats } from './observability/stats.js'
export type {
  Alert,
  AlertName,
  CacheHealth,
  CacheSnapshot,
  HealthStatus,
  HistogramData,
  KeyGroupCount,
  LatencySeries,
  OperationName,
  RedisMemory,
  TierLabel,
} from './observability/types.js'
export type { SecurityStats } from './security/entries.js'
export { type BusSecret, MessageAuthenticator } from './security/hmac.js'
export {
  type EncryptionOptions,
  encryptionFromEnv,
  type KeyMap,
  type KeyMaterial,
  KeyRing,
  type OpenFailure,
  type OpenResult,
} from './security/keyring.js'
export { type RotateKeysOptions, type RotationReport, rotateKeys } from './security/rotate.js'
export type { Serializer } from './serialization/serializer.js'
export { MemoryRemoteTier } from './tiers/memory/memory-remote-tier.js'
export type { TlsOptions } from './tiers/redis/client-modules.js'
export type { RemoteEntry, RemoteInfo, RemoteTier } from './tiers/tier.js'
export { AdaptiveTtl, type AdaptiveTtlOptions, adaptiveTtl } from './ttl/adaptive.js'
export { ttl } from './ttl/presets.js'
export {
  type CloseResult,
  createWriteBehind,
  type DeadLetter,
  type DeadLetters,
  type DroppedDeadLetter,
  type DroppedDeadLetters,
  type FlushContext,
  MemoryWriteLog,
  RedisStreamLog,
  WRITE_BEHIND_DEFAULTS,
  type WriteBehind,
  type WriteBehindCache,
  type WriteBehindEventName,
  type WriteBehindEvents,
  type WriteBehindOp,
  type WriteBehindOptions,
  type WriteBehindStats,
  type WriteLog,
  type WriteReceipt,
} from './write/index.js'
