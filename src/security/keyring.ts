import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type KeyObject,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto'
import { inspect } from 'node:util'
import { describeValue, expectObject } from '../base/describe.js'
import { InvalidOptionError } from '../errors.js'

/** A 256-bit key: 32 bytes, or their base64 (44 characters) or hex (64 characters) text. */
export type KeyMaterial = string | Uint8Array

/** Key id → key. Ids are short names (`k2`, `2026-11`) stored in each entry; the keys never are. */
export type KeyMap = Readonly<Record<string, KeyMaterial>>

/**
 * Encryption at rest for L2 entries (docs/security.md): AES-256-GCM, a random 96-bit IV per
 * write, and the full Redis key + format version + key id authenticated with each entry.
 */
export interface EncryptionOptions {
  /**
   * Every key that may have written an entry still alive, by id; or a function returning them
   * (called once, when the cache is created — read them from your secret store or the
   * environment, see `encryptionFromEnv`). Never logged: the cache keeps them as `KeyObject`s.
   */
  keys: KeyMap | (() => KeyMap)
  /** The id of the key new entries are encrypted with. Entries under any other listed id are still read. */
  current: string
  /**
   * `true` (default): every entry is encrypted, and a plaintext entry in the L2 is refused (a
   * miss and a security event) — nobody can plant a value. `false`: only entries written (and
   * read) with the entry option `encrypt: true` are.
   */
  all?: boolean
}

/** Why a sealed entry was refused. Each is a miss plus a counted security event, never an error. */
export type OpenFailure =
  /** Too short, or an unknown sealed-format version. */
  | 'malformed'
  /** Encrypted under a key id the ring does not hold (retired, or forged). */
  | 'unknown-key'
  /** Authentication failed: tampered with, copied from another key, or a key id relabelled. */
  | 'integrity'

export type OpenResult =
  | { ok: true; plaintext: Buffer; keyId: string }
  | { ok: false; reason: OpenFailure; keyId: string | undefined }

/**
 * The wire format of an encrypted entry (pinned by test/security/keyring.test.ts):
 *
 * | offset  | size | field                                              |
 * |---------|------|----------------------------------------------------|
 * | 0       | 1    | magic 0xE5 ("encrypted stratacache entry")         |
 * | 1       | 1    | sealed-format version (1)                          |
 * | 2       | 1    | key id length n (1–64)                             |
 * | 3       | n    | key id, ASCII                                      |
 * | 3+n     | 12   | IV, random per write                               |
 * | 15+n    | …    | AES-256-GCM ciphertext of the plaintext envelope   |
 * | end−16  | 16   | GCM tag                                            |
 *
 * Additional authenticated data: version ‖ n ‖ key id ‖ the full Redis key (UTF-8). A value copied
 * under another key, a flipped byte, a changed key id or a removed key all fail to open.
 */
export const SEALED_MAGIC = 0xe5
export const SEALED_VERSION = 1
const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_BYTES = 32
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/
/** IVs are cut from a pool filled by the CSPRNG (one syscall per 512 writes, not one per write). */
const IV_POOL_SIZE = IV_BYTES * 512

/** True when stored bytes are an encrypted entry (cheap: the first byte). */
export function isSealed(bytes: Uint8Array): boolean {
  return bytes[0] === SEALED_MAGIC
}

/** The key id an encrypted entry names, without decrypting it (undefined if malformed). */
export function sealedKeyId(bytes: Uint8Array): string | undefined {
  if (bytes.length < 3 || bytes[0] !== SEALED_MAGIC || bytes[1] !== SEALED_VERSION) return undefined
  const n = bytes[2] as number
  if (n === 0 || bytes.length < 3 + n + IV_BYTES + TAG_BYTES) return undefined
  return Buffer.from(bytes.buffer, bytes.byteOffset + 3, n).toString('latin1')
}

/**
 * The keys of one cache: encrypts with the current one, decrypts with any. Holds them as
 * `KeyObject`s, and prints and serializes as ids only, so a key never reaches a log line.
 */
export class KeyRing {
  readonly currentId: string
  readonly #keys: Map<string, KeyObject>
  readonly #currentKey: KeyObject
  readonly #currentHeader: Buffer
  readonly #ivs = new IvSource()

  private constructor(keys: Map<string, KeyObject>, current: string) {
    this.#keys = keys
    this.currentId = current
    this.#currentKey = keys.get(current) as KeyObject
    const id = Buffer.from(current, 'latin1')
    this.#currentHeader = Buffer.concat([Buffer.from([SEALED_MAGIC, SEALED_VERSION, id.length]), id])
  }

  /** Validates `options` (which option is wrong, never what a key is) and builds the ring. */
  static from(options: EncryptionOptions, what = 'encryption'): KeyRing {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError(
        `${what} must be an object like { keys: { k1: process.env.CACHE_KEY_K1 }, current: 'k1' }.`,
      )
    }
    for (const name of Object.keys(options)) {
      if (name === 'keys' || name === 'current' || name === 'all') continue
      // A name is quoted unless it could be a key (a key map one level too high).
      throw new InvalidOptionError(
        `${what} takes keys, current, all; got also ${looksLikeKey(name) ? `a name shaped like a key (${name.length} characters): keys go inside \`keys: { k1: <key> }\`` : `\`${name}\``}.`,
      )
    }
    let map: unknown = options.keys
    if (typeof map === 'function') {
      try {
        map = (map as () => KeyMap)()
      } catch (cause) {
        // The callback's error could quote a key: only its class goes into the message.
        throw new InvalidOptionError(
          `${what}.keys: the keys callback threw (${(cause as Error)?.name ?? 'error'}).`,
        )
      }
    }
    if (typeof map !== 'object' || map === null || Object.keys(map).length === 0) {
      throw new InvalidOptionError(
        `${what}.keys must list at least one key: { k1: <32 bytes, or their base64 or hex> }.`,
      )
    }
    const keys = new Map<string, KeyObject>()
    const raw = new Map<string, Buffer>()
    let position = 0
    for (const [id, material] of Object.entries(map as Record<string, unknown>)) {
      position++
      if (looksLikeKey(id)) {
        // A hex or base64url key passes KEY_ID: quoted (here or in the material's error below),
        // it would reach logs; accepted, it would be stored in clear in every entry.
        throw new InvalidOptionError(
          `${what}.keys: key id ${position} (${id.length} characters) looks like key material, and ids are stored in clear in every entry: is the map written the wrong way round? Use { k1: <key> } (or "k1=<key>" in the environment).`,
        )
      }
      if (!KEY_ID.test(id)) {
        // Not quoted: a map written the wrong way round would put a key here.
        throw new InvalidOptionError(
          `${what}.keys: a key id (${id.length} characters) is invalid: use 1–64 letters, digits, '.', '_' or '-', e.g. 'k2'.`,
        )
      }
      const bytes = keyBytes(material, `${what}.keys.${id}`)
      // One key under two ids: a rotation to the new id would report success while re-encrypting
      // under the old key (a copy-paste slip), so the retired key would still read everything.
      for (const [other, seen] of raw) {
        if (timingSafeEqual(seen, bytes)) {
          throw new InvalidOptionError(
            `${what}.keys.${id} is the same key as ${what}.keys.${other}: give each id its own key (\`openssl rand -base64 32\`).`,
          )
        }
      }
      raw.set(id, bytes)
      keys.set(id, createSecretKey(bytes))
    }
    const current = options.current
    if (typeof current !== 'string' || !keys.has(current)) {
      throw new InvalidOptionError(
        `${what}.current must be the id of one of the keys (${[...keys.keys()].join(', ')}); got ${typeof current === 'string' ? `another string (${current.length} characters)` : typeof current}.`,
      )
    }
    return new KeyRing(keys, current)
  }

  /** The ids this ring can decrypt. */
  ids(): string[] {
    return [...this.#keys.keys()]
  }

  has(id: string): boolean {
    return this.#keys.has(id)
  }

  /** Encrypts `plaintext` for storage under `storageKey` with the current key. */
  seal(plaintext: Uint8Array, storageKey: string): Buffer {
    const header = this.#currentHeader
    const out = Buffer.allocUnsafe(header.length + IV_BYTES + plaintext.byteLength + TAG_BYTES)
    header.copy(out, 0)
    const iv = out.subarray(header.length, header.length + IV_BYTES)
    this.#ivs.next(iv)
    const cipher = createCipheriv('aes-256-gcm', this.#currentKey, iv)
    cipher.setAAD(aad(header, storageKey))
    let at = header.length + IV_BYTES
    at += cipher.update(plaintext).copy(out, at)
    at += cipher.final().copy(out, at)
    cipher.getAuthTag().copy(out, at)
    return out
  }

  /** Decrypts an entry read from `storageKey`; a refusal says why, never throws. */
  open(sealed: Uint8Array, storageKey: string): OpenResult {
    const bytes = Buffer.isBuffer(sealed)
      ? sealed
      : Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength)
    const keyId = sealedKeyId(bytes)
    if (keyId === undefined) return { ok: false, reason: 'malformed', keyId }
    const key = this.#keys.get(keyId)
    if (key === undefined) return { ok: false, reason: 'unknown-key', keyId }
    const headerLength = 3 + keyId.length
    const iv = bytes.subarray(headerLength, headerLength + IV_BYTES)
    const tag = bytes.subarray(bytes.length - TAG_BYTES)
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
      decipher.setAAD(aad(bytes.subarray(0, headerLength), storageKey))
      decipher.setAuthTag(tag)
      const body = bytes.subarray(headerLength + IV_BYTES, bytes.length - TAG_BYTES)
      const head = decipher.update(body)
      const tail = decipher.final() // GCM streams: empty, but it is what checks the tag
      const plaintext = tail.length === 0 ? head : Buffer.concat([head, tail])
      return { ok: true, plaintext, keyId }
    } catch {
      return { ok: false, reason: 'integrity', keyId }
    }
  }

  /** Serialized as ids only. */
  toJSON(): { current: string; ids: string[] } {
    return { current: this.currentId, ids: this.ids() }
  }

  [inspect.custom](): string {
    return `KeyRing { current: ${this.currentId}, ids: [${this.ids().join(', ')}] }`
  }
}

/**
 * Random 96-bit IVs, cut from a pool the CSPRNG fills 512 IVs at a time (one call instead of one
 * per write). Random IVs keep the GCM collision bound of NIST SP 800-38D §8.3 as long as a key
 * encrypts well under 2^32 entries: rotate before that (docs/security.md).
 */
export class IvSource {
  #pool = Buffer.alloc(0)
  #at = 0

  /** Writes the next IV into `target` (12 bytes). */
  next(target: Buffer): void {
    if (this.#at + IV_BYTES > this.#pool.length) {
      this.#pool = randomFillSync(Buffer.allocUnsafe(IV_POOL_SIZE))
      this.#at = 0
    }
    this.#pool.copy(target, 0, this.#at, this.#at + IV_BYTES)
    this.#at += IV_BYTES
  }
}

/** version ‖ key id length ‖ key id ‖ storage key: what each entry is bound to. */
function aad(header: Buffer, storageKey: string): Buffer {
  // header = magic ‖ version ‖ n ‖ id; the magic is constant, the rest is bound.
  return Buffer.concat([header.subarray(1), Buffer.from(storageKey, 'utf8')])
}

function keyBytes(material: unknown, what: string): Buffer {
  let bytes: Buffer | undefined
  if (material instanceof Uint8Array) bytes = Buffer.from(material)
  else if (typeof material === 'string') {
    const text = material.trim()
    if (/^[0-9a-fA-F]{64}$/.test(text)) bytes = Buffer.from(text, 'hex')
    else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) bytes = Buffer.from(text, 'base64')
  }
  if (bytes === undefined || bytes.length !== KEY_BYTES) {
    // Never quote the material: say what shape is expected.
    throw new InvalidOptionError(
      `${what} must be a 256-bit key: 32 bytes, or their base64 (44 characters) or hex (64 characters). Generate one with \`openssl rand -base64 32\`.`,
    )
  }
  if (isWeak(bytes)) {
    throw new InvalidOptionError(
      `${what} is a weak key (a few byte values repeated, or text rather than random bytes): anyone who guesses it reads and forges every entry. Generate one with \`openssl rand -base64 32\`.`,
    )
  }
  return bytes
}

/** Text shaped like a 256-bit key: 64 hex digits, or 43 base64/base64url characters (+ '='). */
export function looksLikeKey(text: string): boolean {
  return /^[0-9a-fA-F]{64}$/.test(text) || /^[A-Za-z0-9+/_-]{43}=?$/.test(text)
}

/**
 * Placeholder or typed keys: fewer than 16 distinct byte values (zeros, a repeated byte or
 * pattern) or printable ASCII only (a password or phrase given as bytes). 32 random bytes hit
 * either with a probability under 10^-13.
 */
function isWeak(bytes: Buffer): boolean {
  const seen = new Set<number>()
  let printable = true
  for (const byte of bytes) {
    seen.add(byte)
    if (byte < 0x20 || byte > 0x7e) printable = false
  }
  return seen.size < 16 || printable
}

/**
 * Encryption options from an environment variable listing `id=key` pairs, current key first:
 * `STRATACACHE_KEYS="k2=<base64>,k1=<base64>"`. Throws {@link InvalidOptionError} (naming the
 * variable, never its value) when it is missing or malformed.
 */
export function encryptionFromEnv(
  variable = 'STRATACACHE_KEYS',
  env: NodeJS.ProcessEnv = process.env,
): EncryptionOptions {
  if (typeof variable !== 'string') {
    throw new InvalidOptionError(
      `encryptionFromEnv(variable): the variable's name must be a string; got ${describeValue(variable)}.`,
    )
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,255}$/.test(variable)) {
    // Not quoted: the keys given where their variable's name goes (`--keys-env k1=…`) would be
    // printed by every message below, which all name the variable.
    throw new InvalidOptionError(
      `encryptionFromEnv(variable): takes the name of an environment variable (letters, digits, '_'), such as 'STRATACACHE_KEYS'; got something else (${variable.length} characters). Put the keys in that variable, never on the command line.`,
    )
  }
  const text = expectObject(env, 'encryptionFromEnv(variable, env): the environment')[variable]
  if (text === undefined || text.trim() === '') {
    throw new InvalidOptionError(
      `${variable} is not set: set it to "k1=<base64 key>" (current key first, comma-separated).`,
    )
  }
  // No prototype: an id spelled '__proto__' is a key like any other, not a prototype to set.
  const keys: Record<string, string> = Object.create(null)
  let current: string | undefined
  const pairs = text.split(',')
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i] as string
    const eq = pair.indexOf('=')
    const id = pair.slice(0, eq).trim()
    if (eq <= 0 || id === '') {
      throw new InvalidOptionError(`${variable} must be comma-separated id=key pairs, current key first.`)
    }
    // The later value must not silently win: instances that read the list differently (or an
    // operator who meant the first) would fail to open each other's entries. The id is not
    // quoted: a pair written the wrong way round would put a key there.
    if (Object.hasOwn(keys, id)) {
      throw new InvalidOptionError(
        `${variable} lists the same key id twice (pair ${i + 1}): give each key its own id, current key first.`,
      )
    }
    keys[id] = pair.slice(eq + 1).trim()
    current ??= id
  }
  return { keys, current: current as string }
}
