// Goal 4: serializers. `node bench/cases/serializer.js <impl>`.
// impl: tagged-json (the default, TaggedJsonSerializer) | json-bytes (Buffer.from(JSON.stringify(v))
// then JSON.parse(buf.toString()): the baseline, since every L2 needs bytes) | json-string
// (JSON.stringify + JSON.parse, no bytes) | msgpack (MsgpackSerializer over @msgpack/msgpack).
// Each op is one encode followed by one decode, over a pool of distinct product objects.
import { products, serve } from '../lib/common.js'

const impl = process.argv[2]
const POOL = 256

async function codec() {
  switch (impl) {
    case 'tagged-json': {
      const { TaggedJsonSerializer } = await import('../../dist/serialization/index.js')
      const s = new TaggedJsonSerializer()
      return {
        describe: 'new TaggedJsonSerializer(): decode(encode(v))',
        encode: (v) => s.encode(v),
        decode: (b) => s.decode(b),
      }
    }
    case 'json-bytes':
      return {
        describe: 'JSON.parse(Buffer.from(JSON.stringify(v)).toString())',
        encode: (v) => Buffer.from(JSON.stringify(v)),
        decode: (b) => JSON.parse(b.toString()),
      }
    case 'json-string':
      return {
        describe: 'JSON.parse(JSON.stringify(v)) (strings, no bytes)',
        encode: (v) => JSON.stringify(v),
        decode: (s) => JSON.parse(s),
      }
    case 'msgpack': {
      const { MsgpackSerializer } = await import('../../dist/serialization/index.js')
      const s = new MsgpackSerializer()
      return {
        describe: 'new MsgpackSerializer(): decode(encode(v))',
        encode: (v) => s.encode(v),
        decode: (b) => s.decode(b),
      }
    }
    default:
      throw new Error(`unknown impl ${impl}`)
  }
}

const SHAPES = [
  { name: '100B', pool: products(POOL, 'small', 11) },
  { name: '500B', pool: products(POOL, 'medium', 12) },
  { name: '2KB', pool: products(POOL, 'large', 13) },
  // One value: an array of 1,000 medium products (~490 KB of JSON).
  { name: 'array1000', pool: [products(1000, 'medium', 14)] },
]

serve(async () => {
  const { describe, encode, decode } = await codec()
  const measurements = {}
  const bytes = {}
  for (const { name, pool } of SHAPES) {
    // Sanity: the round trip is lossless for these plain values.
    const back = decode(encode(pool[0]))
    if (JSON.stringify(back) !== JSON.stringify(pool[0]))
      throw new Error(`${impl} does not round-trip ${name}`)
    const size = (v) => {
      const out = encode(v)
      return typeof out === 'string' ? Buffer.byteLength(out) : out.byteLength
    }
    bytes[name] = pool.reduce((sum, v) => sum + size(v), 0) / pool.length
    const mask = pool.length - 1
    const run = (ops) => {
      let sink = 0
      for (let i = 0; i < ops; i++) sink += decode(encode(pool[i & mask])) === null ? 1 : 0
      if (sink !== 0) throw new Error('unexpected null')
    }
    const big = name === 'array1000'
    measurements[name] = { run, targetMs: big ? 120 : 60, warmupMs: 150, minOps: big ? 3 : 1000 }
  }
  return { describe, measurements, finish: () => ({ bytes }) }
})
