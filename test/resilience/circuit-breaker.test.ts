import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ClosedError, type StrataError } from '../../dist/errors.js'
import { CircuitBreakerTier, type CircuitState } from '../../dist/resilience/circuit-breaker.js'
import { deferred } from '../helpers/deferred.js'
import { FlakyTier } from './flaky-tier.js'

const BREAK_MS = 1000
const bytes = (text: string) => new TextEncoder().encode(text)
const down = () => new Error('connect ECONNREFUSED 127.0.0.1:1')

/** A breaker over a FlakyTier, recording every state change. Time is vitest's fake clock. */
function setup(
  options: {
    failureThreshold?: number
    onRecover?: () => Promise<void>
    locks?: boolean
    probeTimeoutMs?: number
    breakDurationMs?: number
  } = {},
) {
  const inner = new FlakyTier({ locks: options.locks ?? true })
  const states: CircuitState[] = []
  const breaker = new CircuitBreakerTier(inner, {
    failureThreshold: options.failureThreshold ?? 2,
    breakDurationMs: options.breakDurationMs ?? BREAK_MS,
    clock: () => Date.now(),
    onStateChange: (state) => states.push(state),
    ...(options.onRecover ? { onRecover: options.onRecover } : {}),
    ...(options.probeTimeoutMs === undefined ? {} : { probeTimeoutMs: options.probeTimeoutMs }),
  })
  return { inner, breaker, states }
}

/** Fails `n` calls through the breaker (each rejection is the inner's own error). */
async function fail(breaker: CircuitBreakerTier, n: number) {
  for (let i = 0; i < n; i++) await expect(breaker.get('k')).rejects.toThrow('ECONNREFUSED')
}

/** What `promise` rejected with (the test fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<StrataError> {
  try {
    await promise
  } catch (error) {
    return error as StrataError
  }
  throw new Error('expected a rejection')
}

async function open(failureThreshold = 2) {
  const s = setup({ failureThreshold })
  s.inner.failing = down()
  await fail(s.breaker, failureThreshold)
  expect(s.breaker.state).toBe('open')
  return s
}

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)

beforeEach(() => {
  vi.useFakeTimers()
  unhandled.length = 0
  process.on('unhandledRejection', onUnhandled)
})

afterEach(async () => {
  vi.useRealTimers()
  // Let any stray rejection surface before checking that there was none.
  await new Promise((resolve) => setImmediate(resolve))
  process.off('unhandledRejection', onUnhandled)
  expect(unhandled).toEqual([])
})

describe('CircuitBreakerTier options', () => {
  it.each([
    ['failureThreshold 0', { failureThreshold: 0 }],
    ['failureThreshold 1.5', { failureThreshold: 1.5 }],
    ['breakDurationMs 0', { breakDurationMs: 0 }],
    ['breakDurationMs Infinity', { breakDurationMs: Number.POSITIVE_INFINITY }],
    ['breakDurationMs NaN', { breakDurationMs: Number.NaN }],
    ['probeTimeoutMs 0', { probeTimeoutMs: 0 }],
    ['probeTimeoutMs Infinity', { probeTimeoutMs: Number.POSITIVE_INFINITY }],
  ])('rejects %s with E_INVALID_OPTION', (_label, override) => {
    const options = { failureThreshold: 1, breakDurationMs: 10, clock: Date.now, ...override }
    expect(() => new CircuitBreakerTier(new FlakyTier(), options)).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION' }),
    )
  })
})

describe('CircuitBreakerTier closed', () => {
  it('passes every call through to the inner tier and returns its results', async () => {
    const { inner, breaker } = setup()
    await breaker.set('a', bytes('1'), 60_000)
    await breaker.setMany([{ key: 'b', value: bytes('2'), ttlMs: 60_000 }])
    expect(await breaker.get('a')).toEqual(bytes('1'))
    expect(await breaker.getMany(['a', 'b', 'c'])).toEqual([bytes('1'), bytes('2'), undefined])
    await breaker.ping()
    expect(await breaker.locks?.acquire('lock:x', 't1', 1000)).toBe(true)
    expect(await breaker.locks?.extend('lock:x', 't1', 1000)).toBe(true)
    expect(await breaker.locks?.release('lock:x', 't1')).toBe(true)
    expect(await breaker.delete(['a'])).toBe(1)
    expect(await breaker.deleteByPrefix('b')).toBe(1)
    expect(inner.calls).toEqual([
      'set',
      'setMany',
      'get',
      'getMany',
      'ping',
      'locks.acquire',
      'locks.extend',
      'locks.release',
      'delete',
      'deleteByPrefix',
    ])
    expect(breaker.state).toBe('closed')
  })

  it("takes the inner tier's name, and has locks exactly when the inner tier has them", () => {
    expect(setup().breaker.name).toBe('flaky')
    expect(setup({ locks: true }).breaker.locks).toBeDefined()
    expect(setup({ locks: false }).breaker.locks).toBeUndefined()
    expect('locks' in setup({ locks: false }).breaker).toBe(false)
  })

  it('rejects each failing call with the inner error while failures stay below the threshold', async () => {
    const { inner, breaker, states } = setup({ failureThreshold: 3 })
    inner.failing = down()
    await fail(breaker, 2)
    expect(breaker.state).toBe('closed')
    expect(states).toEqual([])
  })

  it('a success resets the count: only consecutive failures open the breaker', async () => {
    const { inner, breaker, states } = setup({ failureThreshold: 2 })
    inner.failing = down()
    await fail(breaker, 1)
    inner.failing = undefined
    await breaker.get('k')
    inner.failing = down()
    await fail(breaker, 1)
    expect(breaker.state).toBe('closed')
    await fail(breaker, 1)
    expect(breaker.state).toBe('open')
    expect(states).toEqual(['open'])
  })

  it('does not count E_CLOSED rejections as failures', async () => {
    const { inner, breaker } = setup({ failureThreshold: 1 })
    inner.failing = new ClosedError('The Redis tier is closed.')
    await expect(breaker.get('k')).rejects.toMatchObject({ code: 'E_CLOSED' })
    await expect(breaker.set('k', bytes('v'), 1000)).rejects.toMatchObject({ code: 'E_CLOSED' })
    expect(breaker.state).toBe('closed')
  })

  it('counts a synchronous throw of the inner tier as a failure and rejects (never throws) to the caller', async () => {
    const { inner, breaker } = setup({ failureThreshold: 1 })
    vi.spyOn(inner, 'get').mockImplementation(() => {
      throw down()
    })
    const result = breaker.get('k')
    await expect(result).rejects.toThrow('ECONNREFUSED')
    expect(breaker.state).toBe('open')
  })
})

describe('CircuitBreakerTier open', () => {
  it('opens after failureThreshold consecutive failures, reporting the state change once', async () => {
    const { states } = await open(3)
    expect(states).toEqual(['open'])
  })

  it('rejects every call at once with E_L2_UNAVAILABLE, without reaching the inner tier', async () => {
    const { inner, breaker } = await open()
    const before = inner.calls.length
    const calls: [string, () => Promise<unknown>][] = [
      ['get', () => breaker.get('k')],
      ['getMany', () => breaker.getMany(['k'])],
      ['set', () => breaker.set('k', bytes('v'), 1000)],
      ['setMany', () => breaker.setMany([{ key: 'k', value: bytes('v'), ttlMs: 1000 }])],
      ['delete', () => breaker.delete(['k'])],
      ['deleteByPrefix', () => breaker.deleteByPrefix('k')],
      ['ping', () => breaker.ping()],
      ['locks.acquire', () => breaker.locks!.acquire('lock:k', 't', 1000)],
      ['locks.extend', () => breaker.locks!.extend('lock:k', 't', 1000)],
      ['locks.release', () => breaker.locks!.release('lock:k', 't')],
    ]
    for (const [what, call] of calls) {
      const error = await rejection(call())
      expect(error.code, what).toBe('E_L2_UNAVAILABLE')
    }
    expect(inner.calls.length).toBe(before)
  })

  it('says in the error that the breaker is open and will probe, with the last failure as cause', async () => {
    const { breaker } = await open()
    const error = await rejection(breaker.get('k'))
    expect(error.message).toMatch(/circuit breaker is open/)
    expect(error.message).toMatch(/probe will check it in \d+ ms/)
    expect((error.cause as Error).message).toMatch('ECONNREFUSED')
  })

  it('a call in flight when it opened does not count when it fails later, even after the breaker closed again', async () => {
    const { inner, breaker, states } = setup({ failureThreshold: 1 })
    const slow = deferred()
    vi.spyOn(inner, 'get').mockImplementationOnce(async () => {
      await slow.promise
      throw down()
    })
    const late = breaker.get('slow')
    inner.failing = down()
    await expect(breaker.set('k', bytes('v'), 1000)).rejects.toThrow('ECONNREFUSED')
    expect(states).toEqual(['open'])
    inner.failing = undefined
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(breaker.state).toBe('closed')
    slow.resolve()
    await expect(late).rejects.toThrow('ECONNREFUSED')
    expect(breaker.state).toBe('closed')
    expect(states).toEqual(['open', 'half-open', 'closed'])
  })
})

describe('CircuitBreakerTier probe and recovery', () => {
  it('after breakDurationMs, probes with inner.ping() in the background and closes when it answers', async () => {
    const { inner, breaker, states } = await open()
    inner.failing = undefined
    await vi.advanceTimersByTimeAsync(BREAK_MS - 1)
    expect(inner.count('ping')).toBe(0)
    expect(breaker.state).toBe('open')
    await vi.advanceTimersByTimeAsync(1)
    expect(inner.count('ping')).toBe(1)
    expect(breaker.state).toBe('closed')
    expect(states).toEqual(['open', 'half-open', 'closed'])
    await breaker.set('k', bytes('back'), 60_000)
    expect(await breaker.get('k')).toEqual(bytes('back'))
  })

  it('is half-open while the probe runs, and calls still fail fast', async () => {
    const { inner, breaker } = await open()
    inner.failing = undefined
    const gate = deferred()
    inner.pingGate = gate.promise
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(breaker.state).toBe('half-open')
    const error = await rejection(breaker.get('k'))
    expect(error.code).toBe('E_L2_UNAVAILABLE')
    expect(error.message).toMatch(/background probe checks/)
    expect(inner.count('get')).toBe(2) // only the two failures that opened it
    gate.resolve()
    await vi.advanceTimersByTimeAsync(0)
    expect(breaker.state).toBe('closed')
  })

  it('a failed probe opens the breaker for another breakDurationMs, probing once per break', async () => {
    const { inner, breaker, states } = await open()
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(inner.count('ping')).toBe(1)
    expect(breaker.state).toBe('open')
    await vi.advanceTimersByTimeAsync(BREAK_MS - 1)
    expect(inner.count('ping')).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(inner.count('ping')).toBe(2)
    expect(breaker.state).toBe('open')
    inner.failing = undefined
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(inner.count('ping')).toBe(3)
    expect(breaker.state).toBe('closed')
    expect(states).toEqual(['open', 'half-open', 'open', 'half-open', 'open', 'half-open', 'closed'])
  })

  it('awaits onRecover after a successful probe, before any call passes again', async () => {
    const recovering = deferred()
    const seen: string[] = []
    let breaker!: CircuitBreakerTier
    const s = setup({
      onRecover: async () => {
        seen.push(breaker.state)
        // Replays go to the inner tier: the breaker itself still rejects.
        await breaker.inner.delete(['k'])
        await expect(breaker.get('k')).rejects.toMatchObject({ code: 'E_L2_UNAVAILABLE' })
        await recovering.promise
      },
    })
    breaker = s.breaker
    s.inner.failing = down()
    await fail(breaker, 2)
    s.inner.failing = undefined
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(seen).toEqual(['half-open'])
    expect(breaker.state).toBe('half-open')
    recovering.resolve()
    await vi.advanceTimersByTimeAsync(0)
    expect(breaker.state).toBe('closed')
    expect(s.inner.calls.slice(-2)).toEqual(['ping', 'delete'])
  })

  it('an onRecover that rejects counts as a failed probe: the breaker opens again and retries recovery next time', async () => {
    let attempts = 0
    const s = setup({
      onRecover: async () => {
        attempts++
        if (attempts === 1) throw new Error('replay failed')
      },
    })
    s.inner.failing = down()
    await fail(s.breaker, 2)
    s.inner.failing = undefined
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(attempts).toBe(1)
    expect(s.breaker.state).toBe('open')
    const error = await rejection(s.breaker.get('k'))
    expect((error.cause as Error).message).toBe('replay failed')
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(attempts).toBe(2)
    expect(s.breaker.state).toBe('closed')
    expect(s.states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed'])
  })

  it('an onRecover that throws synchronously also counts as a failed probe', async () => {
    const s = setup({
      onRecover: (() => {
        throw new Error('sync')
      }) as () => Promise<void>,
    })
    s.inner.failing = down()
    await fail(s.breaker, 2)
    s.inner.failing = undefined
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(s.breaker.state).toBe('open')
  })

  it('a call arriving once the clock has passed the break starts the probe at once (a test clock needs no timer)', async () => {
    vi.useRealTimers()
    let now = 0
    const inner = new FlakyTier()
    const states: CircuitState[] = []
    const breaker = new CircuitBreakerTier(inner, {
      failureThreshold: 1,
      breakDurationMs: 60_000,
      clock: () => now,
      onStateChange: (state) => states.push(state),
    })
    inner.failing = down()
    await fail(breaker, 1)
    inner.failing = undefined
    now += 59_999
    await expect(breaker.get('k')).rejects.toMatchObject({ code: 'E_L2_UNAVAILABLE' })
    expect(inner.count('ping')).toBe(0)
    now += 1
    await expect(breaker.get('k')).rejects.toMatchObject({ code: 'E_L2_UNAVAILABLE' })
    expect(inner.count('ping')).toBe(1)
    await vi.waitFor(() => expect(breaker.state).toBe('closed'))
    expect(states).toEqual(['open', 'half-open', 'closed'])
    await breaker.close()
  })

  it('an onStateChange that throws does not disturb the breaker', async () => {
    const inner = new FlakyTier()
    const breaker = new CircuitBreakerTier(inner, {
      failureThreshold: 1,
      breakDurationMs: BREAK_MS,
      clock: () => Date.now(),
      onStateChange: () => {
        throw new Error('listener bug')
      },
    })
    inner.failing = down()
    await fail(breaker, 1)
    expect(breaker.state).toBe('open')
    inner.failing = undefined
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(breaker.state).toBe('closed')
  })
})

describe('CircuitBreakerTier recovery without idle time or traffic (issue 24)', () => {
  const PROBE_TIMEOUT_MS = 3 * BREAK_MS

  it('probes on its own timer, with no call arriving, and one answer closes the breaker', async () => {
    const { inner, states } = await open()
    inner.failing = undefined
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(inner.calls.filter((c) => c !== 'ping')).toEqual(['get', 'get'])
    expect(inner.count('ping')).toBe(1)
    expect(states).toEqual(['open', 'half-open', 'closed'])
  })

  it('a PING that never settles fails the probe at probeTimeoutMs: the breaker opens again and the next probe closes it', async () => {
    const s = setup({ probeTimeoutMs: PROBE_TIMEOUT_MS })
    s.inner.failing = down()
    await fail(s.breaker, 2)
    s.inner.failing = undefined
    s.inner.pingGate = new Promise(() => {})
    await vi.advanceTimersByTimeAsync(BREAK_MS + PROBE_TIMEOUT_MS - 1)
    expect(s.breaker.state).toBe('half-open')
    await vi.advanceTimersByTimeAsync(1)
    expect(s.breaker.state).toBe('open')
    const error = await rejection(s.breaker.get('k'))
    expect(error.code).toBe('E_L2_UNAVAILABLE')
    expect((error.cause as StrataError).code).toBe('E_L2_TIMEOUT')
    expect((error.cause as Error).message).toMatch(/did not settle within 3000 ms/)
    s.inner.pingGate = undefined
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(s.breaker.state).toBe('closed')
    expect(s.states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed'])
  })

  it('an onRecover that never settles cannot keep the breaker half-open: it opens again at probeTimeoutMs', async () => {
    let attempts = 0
    const s = setup({
      probeTimeoutMs: PROBE_TIMEOUT_MS,
      onRecover: () => (++attempts === 1 ? new Promise<void>(() => {}) : Promise.resolve()),
    })
    s.inner.failing = down()
    await fail(s.breaker, 2)
    s.inner.failing = undefined
    await vi.advanceTimersByTimeAsync(BREAK_MS + PROBE_TIMEOUT_MS)
    expect(s.breaker.state).toBe('open')
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(attempts).toBe(2)
    expect(s.breaker.state).toBe('closed')
  })

  it('a probe settling after its deadline changes nothing: the later probe decides', async () => {
    const s = setup({ probeTimeoutMs: PROBE_TIMEOUT_MS })
    s.inner.failing = down()
    await fail(s.breaker, 2)
    s.inner.failing = undefined
    const late = deferred()
    s.inner.pingGate = late.promise
    await vi.advanceTimersByTimeAsync(BREAK_MS + PROBE_TIMEOUT_MS)
    expect(s.breaker.state).toBe('open')
    // The next probe hangs too; the first one's PING answering now must not close the breaker.
    s.inner.pingGate = new Promise(() => {})
    late.resolve()
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(s.breaker.state).toBe('half-open')
    expect(s.states).toEqual(['open', 'half-open', 'open', 'half-open'])
  })

  it('the default probe deadline is 10 s, whatever the break', async () => {
    const { inner, breaker } = await open()
    inner.failing = undefined
    inner.pingGate = new Promise(() => {})
    await vi.advanceTimersByTimeAsync(BREAK_MS + 9_999)
    expect(breaker.state).toBe('half-open')
    await vi.advanceTimersByTimeAsync(1)
    expect(breaker.state).toBe('open')
  })

  it('close() during a probe clears its deadline timer', async () => {
    const { inner, breaker } = await open()
    inner.failing = undefined
    inner.pingGate = new Promise(() => {})
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(breaker.state).toBe('half-open')
    expect(vi.getTimerCount()).toBe(1)
    await breaker.close()
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('CircuitBreakerTier recovery driven by events (issue 24)', () => {
  it('probeNow() while open probes at once, without waiting for the break, and one answer closes it', async () => {
    const { inner, breaker, states } = await open()
    inner.failing = undefined
    breaker.probeNow()
    expect(breaker.state).toBe('half-open')
    await vi.advanceTimersByTimeAsync(0)
    expect(breaker.state).toBe('closed')
    expect(inner.count('ping')).toBe(1)
    expect(states).toEqual(['open', 'half-open', 'closed'])
  })

  it('probeNow() while closed does nothing', async () => {
    const { inner, breaker, states } = setup()
    breaker.probeNow()
    await vi.advanceTimersByTimeAsync(BREAK_MS * 3)
    expect(inner.count('ping')).toBe(0)
    expect(states).toEqual([])
  })

  it('probeNow() during a probe that then fails starts one more probe at once, then waits a break again', async () => {
    const { inner, breaker, states } = await open()
    inner.failing = undefined
    const gate = deferred()
    inner.pingGate = gate.promise
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(breaker.state).toBe('half-open')
    breaker.probeNow()
    inner.pingGate = undefined
    inner.failing = down()
    gate.resolve()
    // Redis still refuses: the first probe fails, the one probeNow() asked for follows at once
    // and fails too, and the next waits for the end of a break.
    await vi.advanceTimersByTimeAsync(0)
    expect(inner.count('ping')).toBe(2)
    expect(states).toEqual(['open', 'half-open', 'open', 'half-open', 'open'])
    await vi.advanceTimersByTimeAsync(BREAK_MS - 1)
    expect(inner.count('ping')).toBe(2)
    await vi.advanceTimersByTimeAsync(1)
    expect(inner.count('ping')).toBe(3)
  })

  it('a reconnect during a probe that fails lets the next probe close the breaker without waiting a break', async () => {
    const { inner, breaker, states } = await open()
    inner.failing = undefined
    const gate = deferred()
    inner.pingGate = gate.promise
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(breaker.state).toBe('half-open')
    breaker.probeNow()
    // The probe in flight fails (its connection died); Redis answers from now on.
    inner.pingGate = undefined
    gate.reject(new Error('Connection is closed.'))
    await vi.advanceTimersByTimeAsync(0)
    expect(breaker.state).toBe('closed')
    expect(states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed'])
  })

  it('a probe a reconnection started that fails is followed 1 s later, not a whole break later', async () => {
    // A one-minute break: the reconnect's probe met a slow or failed answer, yet the client is
    // connected — waiting the minute out would keep a healthy Redis unused.
    const { inner, breaker, states } = setup({ breakDurationMs: 60_000 })
    inner.failing = down()
    await fail(breaker, 2)
    breaker.probeNow()
    await vi.advanceTimersByTimeAsync(0)
    expect(breaker.state).toBe('open')
    expect(inner.count('ping')).toBe(1)
    inner.failing = undefined
    await vi.advanceTimersByTimeAsync(999)
    expect(inner.count('ping')).toBe(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(inner.count('ping')).toBe(2)
    expect(breaker.state).toBe('closed')
    expect(states).toEqual(['open', 'half-open', 'open', 'half-open', 'closed'])
  })

  it('after a reconnection, failed probes back off 1 s, 2 s, 4 s… up to the break; once closed, a break is a break again', async () => {
    const { inner, breaker } = setup({ breakDurationMs: 5_000 })
    inner.failing = down()
    await fail(breaker, 2)
    breaker.probeNow()
    await vi.advanceTimersByTimeAsync(0)
    expect(inner.count('ping')).toBe(1)
    // Each gap: one tick short of it, no probe; at it, one.
    for (const gap of [1_000, 2_000, 4_000, 5_000, 5_000]) {
      const before = inner.count('ping')
      await vi.advanceTimersByTimeAsync(gap - 1)
      expect(inner.count('ping')).toBe(before)
      await vi.advanceTimersByTimeAsync(1)
      expect(inner.count('ping')).toBe(before + 1)
    }
    inner.failing = undefined
    await vi.advanceTimersByTimeAsync(5_000)
    expect(breaker.state).toBe('closed')
    // Calls open it again, with no reconnection: the probe waits the whole break.
    inner.failing = down()
    await fail(breaker, 2)
    const opened = inner.count('ping')
    await vi.advanceTimersByTimeAsync(4_999)
    expect(inner.count('ping')).toBe(opened)
    await vi.advanceTimersByTimeAsync(1)
    expect(inner.count('ping')).toBe(opened + 1)
  })

  it("the break timer's probe sends onRecover only once its PING answered (nothing queued behind a frozen Redis)", async () => {
    const started: string[] = []
    const s = setup({
      onRecover: async () => {
        started.push('recover')
      },
    })
    s.inner.failing = down()
    await fail(s.breaker, 2)
    s.inner.failing = undefined
    const gate = deferred()
    s.inner.pingGate = gate.promise
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(s.breaker.state).toBe('half-open')
    expect(started).toEqual([])
    gate.resolve()
    await vi.advanceTimersByTimeAsync(0)
    expect(started).toEqual(['recover'])
    expect(s.breaker.state).toBe('closed')
  })

  it('a probeNow() probe starts onRecover together with its PING, not after its answer (one round trip, not two)', async () => {
    const started: string[] = []
    const s = setup({
      onRecover: async () => {
        started.push(`recover while ping ${s.inner.count('ping')}`)
      },
    })
    s.inner.failing = down()
    await fail(s.breaker, 2)
    s.inner.failing = undefined
    const gate = deferred()
    s.inner.pingGate = gate.promise
    s.breaker.probeNow()
    await vi.advanceTimersByTimeAsync(0)
    expect(started).toEqual(['recover while ping 1'])
    expect(s.breaker.state).toBe('half-open')
    gate.resolve()
    await vi.advanceTimersByTimeAsync(0)
    expect(s.breaker.state).toBe('closed')
  })
})

describe('CircuitBreakerTier close', () => {
  it('clears the probe timer and closes the inner tier; later calls reject with E_CLOSED', async () => {
    const { inner, breaker } = await open()
    expect(vi.getTimerCount()).toBe(1)
    await breaker.close()
    expect(vi.getTimerCount()).toBe(0)
    expect(inner.closed).toBe(1)
    await vi.advanceTimersByTimeAsync(10 * BREAK_MS)
    expect(inner.count('ping')).toBe(0)
    await expect(breaker.get('k')).rejects.toMatchObject({ code: 'E_CLOSED' })
    await breaker.close()
    expect(inner.closed).toBe(1)
  })

  it('a probe still running at close() changes nothing when it settles', async () => {
    const { inner, breaker, states } = await open()
    inner.failing = undefined
    const gate = deferred()
    inner.pingGate = gate.promise
    await vi.advanceTimersByTimeAsync(BREAK_MS)
    expect(breaker.state).toBe('half-open')
    await breaker.close()
    gate.resolve()
    await vi.advanceTimersByTimeAsync(10 * BREAK_MS)
    expect(states).toEqual(['open', 'half-open'])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('its probe timer does not keep the process alive (unref)', async () => {
    vi.useRealTimers()
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length
    const inner = new FlakyTier()
    const breaker = new CircuitBreakerTier(inner, {
      failureThreshold: 1,
      breakDurationMs: 3_600_000,
      clock: Date.now,
    })
    const before = timers()
    inner.failing = down()
    await fail(breaker, 1)
    expect(breaker.state).toBe('open')
    expect(timers()).toBe(before)
    await breaker.close()
  })
})
