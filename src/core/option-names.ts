import { closest } from '../base/closest.js'
import { InvalidOptionError } from '../errors.js'

/**
 * Refuses option names createCache does not know (`tll`, `maxEntrys`), naming the nearest valid
 * one: a typo must not silently fall back to a default. `path` prefixes the names ('l1.').
 */
export function refuse(given: object, known: Record<string, true>, path: string): void {
  for (const name of Object.keys(given)) {
    if (Object.hasOwn(known, name)) continue
    const nearest = closest(name, Object.keys(known))
    throw new InvalidOptionError(
      nearest === undefined
        ? `\`${path}${name}\` is not an option of createCache; valid ${path === '' ? 'options' : `${path.slice(0, -1)} options`}: ${Object.keys(known).join(', ')} (docs/options.md).`
        : `\`${path}${name}\`: did you mean \`${path}${nearest}\`? (docs/options.md lists every option.)`,
    )
  }
}
