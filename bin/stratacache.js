#!/usr/bin/env node
// The stratacache CLI is compiled TypeScript (src/cli → dist/cli): this file only starts it.
import { existsSync } from 'node:fs'

const entry = new URL('../dist/cli/main.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write('stratacache: dist/cli/main.js is missing; run `npm run build` first.\n')
  process.exitCode = 1
} else {
  const { main } = await import(entry.href)
  process.exitCode = await main(process.argv.slice(2))
}
