/**
 * A clone anywhere passes its tests: nothing in src/, test/, bench/ or scripts/ reads a path
 * outside the repository (the real traces live in traces/, not beside the project) or talks to a
 * service on a fixed port (tests start their own redis-server and PostgreSQL on free ports; this
 * machine's own servers on the standard ports are not the suite's). And what the docs walk through
 * is in git: a sample log that .gitignore hides is missing from every clone.
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const SCANNED = ['src', 'test', 'bench', 'scripts']
const CODE = /\.(?:ts|js|mjs|cjs|sh)$/

/** The standard ports of the services this machine runs (Redis, PostgreSQL, MariaDB, RabbitMQ, MQTT, NATS). */
const SERVICE_PORTS = ['6379', '5432', '3306', '5672', '1883', '4222']

/**
 * Lines allowed to name a standard port, each with why: not a connection a test or benchmark
 * makes, but the product's documented default for a user's own server, or a URL's implied port.
 */
const ALLOWED: readonly { file: RegExp; line: RegExp; why: string }[] = [
  {
    file: /^src\//,
    line: /127\.0\.0\.1:6379/,
    why: "the product's default or example address of the user's own Redis (CLI defaults, messages, comments)",
  },
  {
    file: /^(src|test)\//,
    line: /port === '' \? 6379/,
    why: 'a redis:// URL without a port means 6379',
  },
  {
    file: /^src\/tiers\/redis\/cluster-ioredis-adapter\.ts$/,
    line: /port \?\? 6379/,
    why: "ioredis' default port",
  },
]

function files(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && CODE.test(entry.name))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)))
}

const SOURCES = SCANNED.flatMap(files).map((file) => ({
  file,
  lines: readFileSync(path.join(ROOT, file), 'utf8').split('\n'),
}))

/** Paths a file builds relative to itself (`new URL('../x', import.meta.url)`, `resolve(import.meta.dirname, '../x')`). */
const RELATIVE_PATH =
  /new URL\(\s*['"`](\.{1,2}\/[^'"`]*)['"`]\s*,\s*import\.meta\.url|(?:resolve|join)\(\s*import\.meta\.dirname\s*,\s*['"`]([^'"`]+)['"`]/g

describe('the repository is self-contained', () => {
  it('scans the code of src/, test/, bench/ and scripts/', () => {
    for (const dir of SCANNED) expect(SOURCES.some((s) => s.file.startsWith(`${dir}/`))).toBe(true)
  })

  it('builds no path that leaves the repository', () => {
    const outside: string[] = []
    for (const { file, lines } of SOURCES) {
      lines.forEach((text, i) => {
        for (const match of text.matchAll(RELATIVE_PATH)) {
          const target = path.resolve(ROOT, path.dirname(file), match[1] ?? match[2] ?? '')
          if (path.relative(ROOT, target).startsWith('..')) outside.push(`${file}:${i + 1}: ${text.trim()}`)
        }
      })
    }
    expect(outside).toEqual([])
  })

  it('names no absolute path of this machine nor a sibling folder of the clone', () => {
    // Built from pieces so that this file does not match itself.
    const machinePaths = new RegExp(`['"\`](?:/${'work'}/|/${'home'}/|/${'root'}/|\\.\\./${'shared'}/)`)
    const found = SOURCES.flatMap(({ file, lines }) =>
      lines.flatMap((text, i) => (machinePaths.test(text) ? [`${file}:${i + 1}: ${text.trim()}`] : [])),
    )
    expect(found).toEqual([])
  })

  it('connects to no service on a fixed port (tests and benchmarks start their own servers)', () => {
    const port = new RegExp(`(?<![\\d.])(?:${SERVICE_PORTS.join('|')})(?!\\d)`)
    const found = SOURCES.flatMap(({ file, lines }) =>
      file === 'test/repository/self-contained.test.ts'
        ? []
        : lines.flatMap((text, i) =>
            port.test(text) && !ALLOWED.some((a) => a.file.test(file) && a.line.test(text))
              ? [`${file}:${i + 1}: ${text.trim()}`]
              : [],
          ),
    )
    expect(found).toEqual([])
  })

  it('keeps in git every examples/ file the docs name and every sample log (none hidden by .gitignore)', () => {
    const docs = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).map((name) => `docs/${name}`)]
    const named = new Set(
      docs
        .filter((file) => file.endsWith('.md'))
        .flatMap((file) => [...readFileSync(path.join(ROOT, file), 'utf8').matchAll(/examples\/[\w./-]*\w/g)])
        .map((match) => match[0])
        .filter((name) => /\.\w+$/.test(name)), // files, not folders
    )
    // examples/logs/ holds the workload in every format (docs/analyze.md): what the generator writes.
    const generator = readFileSync(path.join(ROOT, 'scripts/generate-sample-logs.js'), 'utf8')
    for (const match of generator.matchAll(/: '([\w-]+\.(?:log|jsonl|csv|txt))'/g))
      named.add(`examples/logs/${match[1]}`)
    expect(named.size).toBeGreaterThanOrEqual(6)
    const tracked = new Set(
      execFileSync('git', ['ls-files', 'examples'], { cwd: ROOT, encoding: 'utf8' }).split('\n'),
    )
    expect([...named].filter((name) => !tracked.has(name))).toEqual([])
  })
})
