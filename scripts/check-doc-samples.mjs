#!/usr/bin/env node
// Type-checks every ```ts block of README.md and docs/*.md against the built types (dist/, through
// the package's own exports: `import … from 'stratacache'` resolves as it does for a user), under
// the repository's strict compiler options. Each block is a module of its own.
//
// A block that cannot stand alone says what it assumes, in an HTML comment right before it (the
// rendered page does not show it):
//
//   <!-- doc-sample: declare const id: number; declare const db: { find(id: number): Promise<Product> } -->
//       The text after `doc-sample:` is TypeScript prepended to the block (declarations of what
//       the surrounding prose already introduced: a `cache`, an `app`, a row type).
//   <!-- doc-sample: fragment -->
//       Not compiled: a partial snippet (an options object alone, a signature). Use sparingly;
//       the script lists every fragment it skipped.
//
//   npm run build && node scripts/check-doc-samples.mjs [--keep]
// --keep leaves the generated files in test-output/doc-samples/ to read the errors against.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const out = join(root, 'test-output', 'doc-samples')
const documents = ['README.md', ...readdirSync(join(root, 'docs')).map((name) => `docs/${name}`)].filter(
  (file) => file.endsWith('.md'),
)

/** The ```ts blocks of one Markdown file, each with its line and the doc-sample comment before it. */
export function extractSamples(markdown) {
  const lines = markdown.split('\n')
  const samples = []
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue
    const start = i
    const body = []
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i])
    let previous = start - 1
    while (previous >= 0 && lines[previous].trim() === '') previous--
    const directive = /^<!--\s*doc-sample:\s*([\s\S]*?)\s*-->$/.exec(lines[previous]?.trim() ?? '')?.[1]
    samples.push({ line: start + 1, code: body.join('\n'), directive })
  }
  return samples
}

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
const files = []
const fragments = []
const origins = new Map()
for (const document of documents) {
  const samples = extractSamples(readFileSync(join(root, document), 'utf8'))
  for (const sample of samples) {
    const where = `${document}:${sample.line}`
    if (sample.directive === 'fragment') {
      fragments.push(where)
      continue
    }
    const name = `${document.replace(/[/.]/g, '_')}_${sample.line}.ts`
    const prelude = sample.directive === undefined ? '' : `${sample.directive}\n`
    // `export {}` makes every block a module (top-level await, no globals shared between blocks).
    writeFileSync(join(out, name), `${prelude}${sample.code}\nexport {}\n`)
    files.push(name)
    origins.set(name, { where, preludeLines: prelude === '' ? 0 : prelude.split('\n').length - 1 })
  }
}

writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify(
    {
      extends: '../../tsconfig.json',
      compilerOptions: { noEmit: true, noUnusedLocals: false, types: ['node'] },
      include: ['*.ts'],
    },
    null,
    2,
  ),
)

const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', out], {
  cwd: root,
  encoding: 'utf8',
})
// Point each error at the Markdown line it comes from.
const report = `${tsc.stdout}${tsc.stderr}`.replace(
  /test-output\/doc-samples\/([\w.-]+\.ts)\((\d+),(\d+)\)/g,
  (match, name, line, column) => {
    const origin = origins.get(name)
    if (origin === undefined) return match
    const [document, fence] = origin.where.split(':')
    const markdownLine = Number(fence) + Number(line) - origin.preludeLines
    return `${document}:${markdownLine}:${column} (${relative(root, join(out, name))}:${line})`
  },
)
if (!process.argv.includes('--keep') && tsc.status === 0) rmSync(out, { recursive: true, force: true })
process.stdout.write(
  `doc samples: ${files.length} compiled, ${fragments.length} fragments skipped${fragments.length > 0 ? ` (${fragments.join(', ')})` : ''}\n`,
)
if (tsc.status !== 0) {
  process.stdout.write(report)
  process.exitCode = 1
}
