import { describe, expectTypeOf, it } from 'vitest'
import type {
  CloseResult,
  DroppedDeadLetter,
  DroppedDeadLetters,
  WriteBehind,
  WriteBehindEvents,
  WriteLog,
} from '../../dist/index.js'

// Type-level only (checked by `tsc -p tsconfig.json`): what a write-behind hands its caller is
// importable from the package root, where the write-behind itself is.
describe('write-behind typings', () => {
  it('close() resolves to the CloseResult the root exports; pending is unknown when the log did not answer', () => {
    expectTypeOf<Awaited<ReturnType<WriteBehind<unknown>['close']>>>().toEqualTypeOf<CloseResult>()
    expectTypeOf<CloseResult['pending']>().toEqualTypeOf<number | undefined>()
  })

  it('the dead-letter-dropped event describes each letter as the DroppedDeadLetter the root exports', () => {
    expectTypeOf<
      WriteBehindEvents['dead-letter-dropped']['letters'][number]
    >().toEqualTypeOf<DroppedDeadLetter>()
  })

  it('a custom WriteLog reports what its bound dropped as the DroppedDeadLetters the root exports', () => {
    expectTypeOf<
      Extract<Awaited<ReturnType<WriteLog['deadLetter']>>, object>
    >().toEqualTypeOf<DroppedDeadLetters>()
  })
})
