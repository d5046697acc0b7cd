import { Random } from './random.js'
import { RECENCY_KINDS, type RecencyKind, recencyStream } from './recency-workloads.js'
import { ScrambledZipfianGenerator } from './zipf.js'

/**
 * Synthetic workloads, deterministic from a seed. A spec is a string
 *
 *     spec  := kind ( ':' param )*
 *     param := value | name '=' value
 *     value := a number: `1e6`, `100000`, `100_000`, `100k`, `2.5m`, `0.99`
 *
 * Positional values fill a kind's parameters in the order below; `name=value` sets one by name.
 * Every kind has `requests` (how many keys to generate). Keys are non-negative integers.
 *
 * | kind | parameters (defaults) | workload |
 * |---|---|---|
 * | `zipf` | `alpha`, `n`, `requests` (10·n) | YCSB's scrambled Zipfian: skew `alpha` over `n` keys (`zipf:0.8:1e6`) |
 * | `scan-zipf` | `alpha`, `n`, `requests` (10·n), `scan` (n/10), `share` (0.2) | the same Zipf, interrupted by sequential scans of `scan` never-seen keys making up `share` of the requests: scan resistance (`scan-zipf:0.99:1e5`) |
 * | `loop` | `n`, `requests` (10·n) | keys 0 … n−1 over and over: LRU's worst case once n exceeds the cache (`loop:2000`) |
 * | `shifting` | `hot`, `phase` (10·hot), `requests` (10·phase), `share` (0.9), `n` (100·hot) | a hot set of `hot` keys receiving `share` of the requests (uniformly), replaced by a brand-new hot set every `phase` requests; the rest is uniform over `n` background keys: recency (`shifting:1000`) |
 * | `cdn` | `alpha`, `n`, `requests` (10·n), `onehit` (0.3) | a CDN-like mix: `onehit` of the requests go to keys never seen before or again (one-hit wonders), the rest to a scrambled Zipf over `n` keys (`cdn:0.8:1e5`) |
 *
 * Recency-driven kinds (src/simulation/recency-workloads.ts); *re-reads* are of the key the stream
 * produced d requests ago, d log-uniform in [1, `reach`], else (`fresh` of the time) a new key:
 *
 * | kind | parameters (defaults) | workload |
 * |---|---|---|
 * | `recent` | `fresh` (0.3), `reach` (1e5), `requests` (1e6) | re-reads only: temporal locality at every distance up to `reach` (`recent:0.3:1e5`) |
 * | `drift` | `ws`, `rate` (0.1), `requests` (100·ws), `share` (0.9), `n` (10·ws) | a working set of `ws` keys read uniformly, drifting by `rate` new keys per request; the rest uniform over `n` background keys (`drift:10000`) |
 * | `phases` | `alpha`, `n`, `phase` (2·n), `requests` (10·n), `fresh` (0.3), `reach` (n) | recency phases (re-reads) and frequency phases (Zipf over `n` keys) alternating every `phase` requests (`phases:0.9:1e5`) |
 * | `lirs-mix` | `loop`, `alpha`, `n`, `requests` (10·n), `loop-share` (0.3), `recent-share` (0.4), `fresh` (0.3), `reach` (n) | LIRS's patterns interleaved: a loop over `loop` keys, re-reads, Zipf (`lirs-mix:5000:0.8:1e5`) |
 * | `arc-mix` | `alpha`, `n`, `requests` (10·n), `phase` (2·n), `scan` (n/20), `recent-share` (0.8), `fresh` (0.3), `reach` (n) | re-reads and Zipf whose shares swap every `phase` (`recent-share`, then 1 − it), with scans of `scan` fresh keys every phase/4 requests (`arc-mix:0.9:1e5`) |
 */
export type SyntheticKind = 'zipf' | 'scan-zipf' | 'loop' | 'shifting' | 'cdn' | RecencyKind

export interface SyntheticSpec {
  readonly kind: SyntheticKind
  /** Every parameter of the kind, defaults filled in. */
  readonly params: Readonly<Record<string, number>>
  readonly requests: number
  /** The spec as given. */
  readonly text: string
}

interface KindDefinition {
  readonly params: readonly string[]
  readonly required: number
  readonly defaults: (p: Record<string, number>) => Record<string, number>
}

const KINDS: Readonly<Record<SyntheticKind, KindDefinition>> = {
  zipf: {
    params: ['alpha', 'n', 'requests'],
    required: 2,
    defaults: (p) => ({ requests: 10 * (p.n as number) }),
  },
  'scan-zipf': {
    params: ['alpha', 'n', 'requests', 'scan', 'share'],
    required: 2,
    defaults: (p) => ({
      requests: 10 * (p.n as number),
      scan: Math.max(1, Math.round((p.n as number) / 10)),
      share: 0.2,
    }),
  },
  loop: {
    params: ['n', 'requests'],
    required: 1,
    defaults: (p) => ({ requests: 10 * (p.n as number) }),
  },
  shifting: {
    params: ['hot', 'phase', 'requests', 'share', 'n'],
    required: 1,
    defaults: (p) => {
      const phase = p.phase ?? 10 * (p.hot as number)
      return { phase, requests: 10 * phase, share: 0.9, n: 100 * (p.hot as number) }
    },
  },
  cdn: {
    params: ['alpha', 'n', 'requests', 'onehit'],
    required: 2,
    defaults: (p) => ({ requests: 10 * (p.n as number), onehit: 0.3 }),
  },
  recent: {
    params: ['fresh', 'reach', 'requests', 'theta'],
    required: 0,
    defaults: () => ({ fresh: 0.3, reach: 100_000, requests: 1_000_000, theta: 1 }),
  },
  drift: {
    params: ['ws', 'rate', 'requests', 'share', 'n'],
    required: 1,
    defaults: (p) => ({ rate: 0.1, requests: 100 * (p.ws as number), share: 0.9, n: 10 * (p.ws as number) }),
  },
  phases: {
    params: ['alpha', 'n', 'phase', 'requests', 'fresh', 'reach', 'theta'],
    required: 2,
    defaults: (p) => ({
      phase: 2 * (p.n as number),
      requests: 10 * (p.n as number),
      fresh: 0.3,
      reach: p.n as number,
      theta: 1,
    }),
  },
  'lirs-mix': {
    params: ['loop', 'alpha', 'n', 'requests', 'loop-share', 'recent-share', 'fresh', 'reach', 'theta'],
    required: 3,
    defaults: (p) => ({
      requests: 10 * (p.n as number),
      'loop-share': 0.3,
      'recent-share': 0.4,
      fresh: 0.3,
      reach: p.n as number,
      theta: 1,
    }),
  },
  'arc-mix': {
    params: ['alpha', 'n', 'requests', 'phase', 'scan', 'recent-share', 'fresh', 'reach', 'theta'],
    required: 2,
    defaults: (p) => ({
      requests: 10 * (p.n as number),
      phase: 2 * (p.n as number),
      scan: Math.max(1, Math.round((p.n as number) / 20)),
      'recent-share': 0.8,
      fresh: 0.3,
      reach: p.n as number,
      theta: 1,
    }),
  },
}

export const SYNTHETIC_KINDS = Object.keys(KINDS) as SyntheticKind[]

/** Parses a spec such as `zipf:0.8:1e6` or `scan-zipf:0.99:1e5:scan=5000`; throws a RangeError explaining what is wrong. */
export function parseSyntheticSpec(text: string): SyntheticSpec {
  const [kindText = '', ...parts] = text.trim().split(':')
  const kind = kindText.toLowerCase() as SyntheticKind
  if (!Object.hasOwn(KINDS, kind)) {
    throw new RangeError(
      `Unknown synthetic workload '${kindText}': use one of ${SYNTHETIC_KINDS.join(', ')}.`,
    )
  }
  const definition = KINDS[kind]
  const given: Record<string, number> = {}
  let position = 0
  for (const part of parts) {
    const eq = part.indexOf('=')
    let name: string
    let valueText: string
    if (eq === -1) {
      name = definition.params[position++] ?? ''
      if (name === '') {
        throw new RangeError(
          `'${text}': too many values; ${kind} takes ${definition.params.join(', ')} (see the spec grammar).`,
        )
      }
      valueText = part
    } else {
      name = part.slice(0, eq).trim()
      valueText = part.slice(eq + 1)
      if (!definition.params.includes(name)) {
        throw new RangeError(
          `'${text}': ${kind} has no parameter '${name}'; it takes ${definition.params.join(', ')}.`,
        )
      }
    }
    if (Object.hasOwn(given, name)) throw new RangeError(`'${text}': '${name}' is given twice.`)
    given[name] = parseSpecNumber(valueText, name, text)
  }
  const missing = definition.params
    .slice(0, definition.required)
    .filter((name) => !Object.hasOwn(given, name))
  if (missing.length > 0) {
    throw new RangeError(
      `'${text}': ${kind} needs ${missing.join(' and ')} (${kind}:${definition.params
        .slice(0, definition.required)
        .map((p) => p.toUpperCase())
        .join(':')}).`,
    )
  }
  const params = { ...definition.defaults(given), ...given }
  validate(kind, params, text)
  return { kind, params, requests: params.requests as number, text }
}

function validate(kind: SyntheticKind, p: Record<string, number>, text: string): void {
  const integer = (name: string, min: number, max = 2 ** 31 - 1): void => {
    const v = p[name]
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) {
      throw new RangeError(`'${text}': ${name} must be an integer from ${min} to ${max}; got ${v}.`)
    }
  }
  const fraction = (name: string, min: number, minOpen: boolean): void => {
    const v = p[name]
    if (v !== undefined && !(v <= 1 && (minOpen ? v > min : v >= min))) {
      throw new RangeError(
        `'${text}': ${name} must be a fraction in ${minOpen ? '(' : '['}${min}, 1]; got ${v}.`,
      )
    }
  }
  if (p.alpha !== undefined && !(p.alpha >= 0 && p.alpha <= 10)) {
    throw new RangeError(`'${text}': alpha must be from 0 to 10; got ${p.alpha}.`)
  }
  integer('n', 1)
  integer('requests', 0, Number.MAX_SAFE_INTEGER)
  integer('scan', 1)
  integer('hot', 1)
  integer('phase', 1, Number.MAX_SAFE_INTEGER)
  integer('reach', 1, 2 ** 28)
  integer('ws', 1, 2 ** 28)
  integer('loop', 1)
  fraction('share', 0, kind === 'scan-zipf')
  fraction('onehit', 0, false)
  fraction('fresh', 0, false)
  if (p.theta !== undefined && !(p.theta >= 0 && p.theta <= 3)) {
    throw new RangeError(`'${text}': theta must be from 0 to 3; got ${p.theta}.`)
  }
  fraction('loop-share', 0, false)
  fraction('recent-share', 0, false)
  if (p.rate !== undefined && !(p.rate > 0 && p.rate <= (p.ws as number))) {
    throw new RangeError(`'${text}': rate must be above 0 and at most ws (${p.ws}); got ${p.rate}.`)
  }
  if ((p['loop-share'] ?? 0) + (p['recent-share'] ?? 0) > 1) {
    throw new RangeError(`'${text}': loop-share and recent-share must add up to at most 1.`)
  }
  if (kind === 'scan-zipf' && p.share === 1) {
    throw new RangeError(`'${text}': share must be below 1 (some requests must be Zipf).`)
  }
}

function parseSpecNumber(valueText: string, name: string, spec: string): number {
  const match = /^\s*([0-9._eE+-]+)\s*([kKmMgG]?)\s*$/.exec(valueText)
  const scale = { '': 1, k: 1e3, m: 1e6, g: 1e9 }[(match?.[2] ?? '').toLowerCase()] ?? 1
  const n = match ? Number((match[1] as string).replace(/_/g, '')) * scale : Number.NaN
  if (!Number.isFinite(n)) throw new RangeError(`'${spec}': ${name} must be a number; got '${valueText}'.`)
  return n
}

/** A one-line description, e.g. `zipf alpha=0.8 n=1,000,000 requests=10,000,000`. */
export function describeSyntheticSpec(spec: SyntheticSpec): string {
  const params = KINDS[spec.kind].params
    .map((name) => `${name}=${(spec.params[name] as number).toLocaleString('en-US')}`)
    .join(' ')
  return `${spec.kind} ${params}`
}

/**
 * The workload's keys in batches of up to `batchSize`, the same for the same `(spec, seed)`.
 * Synchronous and allocation-light: about 10–30 ns a key.
 */
export function* syntheticBatches(
  specOrText: SyntheticSpec | string,
  seed = 1,
  batchSize = 65536,
): Generator<number[]> {
  const spec = typeof specOrText === 'string' ? parseSyntheticSpec(specOrText) : specOrText
  const p = spec.params as Record<string, number>
  const random = new Random(seed)
  const total = spec.requests
  if ((RECENCY_KINDS as readonly string[]).includes(spec.kind)) {
    const next = recencyStream(spec.kind as RecencyKind, p, random)
    for (let produced = 0; produced < total; ) {
      const out: number[] = new Array(Math.min(batchSize, total - produced))
      for (let i = 0; i < out.length; i++) out[i] = next()
      produced += out.length
      yield out
    }
    return
  }
  const n = p.n as number
  const zipf = p.alpha === undefined ? undefined : new ScrambledZipfianGenerator(n, p.alpha)
  let fresh = n // keys n, n+1, … are never drawn by the Zipf part: one-time keys for scans and one-hit wonders

  // scan-zipf: `gap` Zipf requests, then a scan of `scan` fresh keys, and again.
  const scan = p.scan ?? 0
  const gap =
    spec.kind === 'scan-zipf'
      ? Math.max(1, Math.round((scan * (1 - (p.share as number))) / (p.share as number)))
      : 0
  let inCycle = 0

  for (let produced = 0; produced < total; ) {
    const size = Math.min(batchSize, total - produced)
    const out: number[] = new Array(size)
    switch (spec.kind) {
      case 'zipf':
        for (let i = 0; i < size; i++) out[i] = (zipf as ScrambledZipfianGenerator).next(random)
        break
      case 'scan-zipf':
        for (let i = 0; i < size; i++) {
          out[i] = inCycle < gap ? (zipf as ScrambledZipfianGenerator).next(random) : fresh++
          if (++inCycle === gap + scan) inCycle = 0
        }
        break
      case 'loop':
        for (let i = 0; i < size; i++) out[i] = (produced + i) % n
        break
      case 'shifting': {
        const hot = p.hot as number
        const phase = p.phase as number
        const share = p.share as number
        for (let i = 0; i < size; i++) {
          const base = n + Math.floor((produced + i) / phase) * hot
          out[i] = random.next() < share ? base + random.nextInt(hot) : random.nextInt(n)
        }
        break
      }
      case 'cdn': {
        const onehit = p.onehit as number
        for (let i = 0; i < size; i++) {
          out[i] = random.next() < onehit ? fresh++ : (zipf as ScrambledZipfianGenerator).next(random)
        }
        break
      }
    }
    produced += size
    yield out
  }
}

/** {@link syntheticBatches}, key by key. */
export function* syntheticKeys(specOrText: SyntheticSpec | string, seed = 1): Generator<number> {
  for (const batch of syntheticBatches(specOrText, seed)) yield* batch
}
