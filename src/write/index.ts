/** Write-behind: writes acknowledged at cache speed, flushed to the database from a durable log. */
export type {
  AppendOp,
  AppendResult,
  DeadEntry,
  DeadLetterStore,
  DroppedDeadLetters,
  LogEntry,
  WriteLog,
} from './log.js'
export { MemoryWriteLog } from './memory-log.js'
export { WRITE_BEHIND_DEFAULTS } from './options.js'
export { RedisStreamLog, type RedisStreamLogOptions } from './redis-stream-log.js'
export type {
  CloseResult,
  DeadLetter,
  DeadLetters,
  DroppedDeadLetter,
  FlushContext,
  WriteBehind,
  WriteBehindEventName,
  WriteBehindEvents,
  WriteBehindOp,
  WriteBehindOptions,
  WriteBehindStats,
  WriteReceipt,
} from './types.js'
export {
  closeWriteBehinds,
  createWriteBehind,
  type WriteBehindCache,
  writeBehindFor,
  writeBehindsOf,
} from './write-behind.js'
