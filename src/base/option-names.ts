import { InvalidOptionError } from '../errors.js'
import { closest } from './closest.js'

/** The valid names of one options object, checked against its type: `{ ttl: true, ... }`. */
export type OptionNames = Readonly<Record<string, true>>

/**
 * Refuses option names nobody reads (`tll`, `maxEntrys`), naming the nearest valid one: a typo
 * must never fall back to a default silently. `where` says whose options they are ('createCache',
 * 'getOrSet', 'HttpCache'); `path` prefixes the names ('l1.'); `docs` is the page that lists them.
 * Cheap when every name is known (one property read each), so call sites off the L1-hit path
 * check on every call.
 */
export function refuseUnknown(
  given: object,
  known: OptionNames,
  where: string,
  path = '',
  docs = 'docs/options.md',
): void {
  for (const name in given) {
    if (known[name] !== true) refuse(name, known, where, path, docs)
  }
}

function refuse(name: string, known: OptionNames, where: string, path: string, docs: string): never {
  const valid = Object.keys(known)
  const nearest = closest(name, valid)
  throw new InvalidOptionError(
    nearest === undefined
      ? `\`${path}${name}\` is not an option of ${where}; valid ${path === '' ? 'options' : `${path.slice(0, -1)} options`}: ${valid.join(', ')} (${docs}).`
      : `\`${path}${name}\`: did you mean \`${path}${nearest}\`? (${docs} lists every option of ${where}.)`,
  )
}
