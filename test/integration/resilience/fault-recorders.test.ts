/**
 * The resilience suites assert that no unhandled rejection or uncaught exception happened, in the
 * test process and in their worker processes. This checks that the recorders do see them.
 */
import { expect, it } from 'vitest'
import { recordProcessFaults, useCacheWorkers } from '../../helpers/worker-pool.js'

const faults = recordProcessFaults()
const startWorker = useCacheWorkers()

it('the test-process recorder sees an unhandled rejection and an uncaught exception', async () => {
  Promise.reject(new Error('deliberate rejection'))
  setTimeout(() => {
    throw new Error('deliberate exception')
  }, 0)
  await new Promise((resolve) => setTimeout(resolve, 20))
  expect(faults().map((f) => `${f.kind}: ${f.message}`)).toEqual([
    'unhandledRejection: deliberate rejection',
    'uncaughtException: deliberate exception',
  ])
})

it('a worker reports its unhandled rejections and uncaught exceptions to the parent, as events and from close()', async () => {
  const worker = await startWorker()
  await worker.open({ namespace: 'fault-recorders' })
  await worker.inject('unhandledRejection')
  await worker.inject('uncaughtException')
  const reported = await worker.close()
  const expected = ['unhandledRejection: injected rejection', 'uncaughtException: injected exception']
  expect(reported.map((f) => `${f.kind}: ${f.message}`)).toEqual(expected)
  expect(worker.faults.map((f) => `${f.kind}: ${f.message}`)).toEqual(expected)
  expect(faults()).toEqual([])
})
