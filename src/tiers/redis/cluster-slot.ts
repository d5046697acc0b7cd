/**
 * Redis Cluster key slots (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/):
 * CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0) of the key's bytes, modulo 16384. When
 * the key holds a `{…}` with at least one byte between the first `{` and the first `}` after it,
 * only those bytes are hashed (a hash tag), so `{user:42}:profile` and `{user:42}:orders` share a
 * slot. Keys are hashed as UTF-8, as the clients send them.
 */

export const SLOT_COUNT = 16384

const TABLE = (() => {
  const table = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let crc = i << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1
    table[i] = crc & 0xffff
  }
  return table
})()

function crc16(bytes: Uint8Array, from: number, to: number): number {
  let crc = 0
  for (let i = from; i < to; i++) {
    crc = ((crc << 8) ^ (TABLE[((crc >> 8) ^ (bytes[i] as number)) & 0xff] as number)) & 0xffff
  }
  return crc
}

/** The same over the char codes of an ASCII string (one byte each in UTF-8): no Buffer to allocate. */
function crc16Ascii(key: string, from: number, to: number): number {
  let crc = 0
  for (let i = from; i < to; i++) {
    crc = ((crc << 8) ^ (TABLE[((crc >> 8) ^ key.charCodeAt(i)) & 0xff] as number)) & 0xffff
  }
  return crc
}

const OPEN = 0x7b // '{'
const CLOSE = 0x7d // '}'

/** The cluster slot of `key` (0–16383), honouring `{hash tags}`. */
export function keySlot(key: string): number {
  // Keys are nearly always ASCII: hash the string itself; anything else, its UTF-8 bytes.
  if (isAscii(key)) {
    const open = key.indexOf('{')
    if (open !== -1) {
      const close = key.indexOf('}', open + 1)
      if (close > open + 1) return crc16Ascii(key, open + 1, close) % SLOT_COUNT
    }
    return crc16Ascii(key, 0, key.length) % SLOT_COUNT
  }
  const bytes = Buffer.from(key, 'utf8')
  const open = bytes.indexOf(OPEN)
  if (open !== -1) {
    const close = bytes.indexOf(CLOSE, open + 1)
    if (close > open + 1) return crc16(bytes, open + 1, close) % SLOT_COUNT
  }
  return crc16(bytes, 0, bytes.length) % SLOT_COUNT
}

function isAscii(key: string): boolean {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0x7f) return false
  return true
}

/**
 * The positions of `keys` grouped by slot, in first-seen order: each group can go in one multi-key
 * command. `prefix`: what the client prepends to every key it sends (its `keyPrefix`), which the
 * server hashes too.
 */
export function groupBySlot(keys: readonly string[], prefix = ''): { slot: number; indexes: number[] }[] {
  const groups = new Map<number, number[]>()
  for (let i = 0; i < keys.length; i++) {
    const slot = keySlot(prefix + (keys[i] as string))
    const group = groups.get(slot)
    if (group === undefined) groups.set(slot, [i])
    else group.push(i)
  }
  return [...groups].map(([slot, indexes]) => ({ slot, indexes }))
}
