/**
 * The package as a user gets it: `npm pack`, then the tarball installed into a new project with
 * what the README's install line adds (ioredis) and the OpenTelemetry API (the one peer a subpath
 * loads at import time) — never the repository's dev dependencies. Every subpath imports (ESM and
 * `require`), the CLI runs from the package, a strict TypeScript consumer compiles, and nothing is
 * compiled natively on the way.
 *
 * Packages come from npm's local cache when it has them (--prefer-offline); the registry is the
 * only network this needs.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc')
const TYPE_ROOTS = path.join(ROOT, 'node_modules/@types')
const repoPackage = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string
  exports: Record<string, unknown>
  files: string[]
}
const SUBPATHS = Object.keys(repoPackage.exports)
  .filter((subpath) => subpath !== './package.json')
  .map((subpath) => (subpath === '.' ? 'stratacache' : `stratacache/${subpath.slice(2)}`))

let work: string
let project: string
let tarball: string
let installOutput: string

/** Runs `command` in the consumer project; never throws, returns what it printed and its status. */
function inProject(
  command: string,
  args: string[],
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, {
    cwd: project,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '', npm_config_update_notifier: 'false' },
    timeout: 120_000,
  })
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'stratacache-pack-'))
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' }),
  ) as { filename: string }[]
  tarball = path.join(work, packed[0]?.filename ?? '')
  project = path.join(work, 'consumer')
  execFileSync('mkdir', [project])
  writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
  )
  const install = inProject('npm', [
    'install',
    tarball,
    'ioredis@5',
    '@opentelemetry/api@1',
    '--omit=dev',
    '--prefer-offline',
    '--foreground-scripts',
    '--no-audit',
    '--no-fund',
  ])
  installOutput = install.stdout + install.stderr
  if (install.status !== 0) throw new Error(`npm install of the tarball failed:\n${installOutput}`)
}, 240_000)

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true })
})

/** Every package.json under node_modules (scoped ones included), nested installs too. */
function installedPackages(dir: string): { name: string; dir: string; manifest: Record<string, unknown> }[] {
  const found: { name: string; dir: string; manifest: Record<string, unknown> }[] = []
  const modules = path.join(dir, 'node_modules')
  if (!existsSync(modules)) return found
  for (const entry of readdirSync(modules)) {
    if (entry.startsWith('.')) continue
    const dirs = entry.startsWith('@')
      ? readdirSync(path.join(modules, entry)).map((name) => path.join(modules, entry, name))
      : [path.join(modules, entry)]
    for (const packageDir of dirs) {
      const manifestPath = path.join(packageDir, 'package.json')
      if (!existsSync(manifestPath)) continue
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>
      found.push({ name: String(manifest.name), dir: packageDir, manifest }, ...installedPackages(packageDir))
    }
  }
  return found
}

describe('the packed tarball, installed into a new project', () => {
  it('ships the licence, the built code and docs, and no test, bench or trace files', () => {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n')
    expect(listing).toContain('package/LICENSE')
    expect(listing).toContain('package/README.md')
    expect(listing).toContain('package/dist/index.js')
    expect(listing).toContain('package/bin/stratacache.js')
    expect(listing.filter((f) => /^package\/(test|bench|traces|src|scripts)\//.test(f))).toEqual([])
  })

  it('ships source maps that carry their sources (src/ is not in the package)', () => {
    const maps = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .split('\n')
      .filter((f) => f.endsWith('.map'))
    expect(maps.length).toBeGreaterThan(10)
    const installed = path.join(project, 'node_modules/stratacache')
    const withoutSources = maps.filter((file) => {
      const map = JSON.parse(readFileSync(path.join(installed, file.slice('package/'.length)), 'utf8')) as {
        sources: string[]
        sourcesContent?: (string | null)[]
      }
      return (
        map.sourcesContent?.length !== map.sources.length ||
        map.sourcesContent.some((content) => typeof content !== 'string' || content === '')
      )
    })
    expect(withoutSources).toEqual([])
  })

  it('installs with no dependency of its own and compiles nothing natively (no better-sqlite3, no uplot)', () => {
    const packages = installedPackages(project)
    const names = packages.map((p) => p.name)
    expect(names).toContain('stratacache')
    expect(names).not.toContain('better-sqlite3')
    expect(names).not.toContain('uplot')
    const stratacache = packages.find((p) => p.name === 'stratacache')
    expect(stratacache?.manifest.dependencies ?? {}).toEqual({})
    const native = packages.filter((p) => {
      const scripts = (p.manifest.scripts ?? {}) as Record<string, string>
      return (
        existsSync(path.join(p.dir, 'binding.gyp')) ||
        scripts.install !== undefined ||
        scripts.preinstall !== undefined ||
        scripts.postinstall !== undefined
      )
    })
    expect(native.map((p) => p.name)).toEqual([])
    expect(installOutput).not.toMatch(/node-gyp|gyp info/)
  })

  it('imports every subpath export with `import`, each with named exports', () => {
    const script = `const names = ${JSON.stringify(SUBPATHS)}
for (const name of names) {
  const module = await import(name)
  if (Object.keys(module).length === 0) throw new Error(name + ' has no exports')
}
console.log('imported ' + names.length)`
    const result = inProject('node', ['--input-type=module', '-e', script])
    expect(result.stderr).toBe('')
    expect(result.stdout.trim()).toBe(`imported ${SUBPATHS.length}`)
    expect(SUBPATHS.length).toBeGreaterThanOrEqual(10)
  })

  it('loads every subpath with `require` too (Node >= 20.19 loads ES modules through require)', () => {
    const script = `for (const name of ${JSON.stringify(SUBPATHS)}) {
  if (Object.keys(require(name)).length === 0) throw new Error(name + ' has no exports')
}
console.log(typeof require('stratacache').createCache)`
    const result = inProject('node', ['--no-warnings', '-e', script])
    expect(result.stderr).toBe('')
    expect(result.stdout.trim()).toBe('function')
  })

  it('runs the CLI from the package: --help, simulate and analyze', () => {
    const help = inProject('npx', ['--no-install', 'stratacache', '--help'])
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/Usage: stratacache <command>/)
    for (const command of ['demo', 'analyze', 'simulate', 'diagnose', 'dashboard'])
      expect(help.stdout).toContain(command)

    const simulate = inProject('npx', [
      '--no-install',
      'stratacache',
      'simulate',
      '--synthetic',
      'zipf:0.9:1000:20000',
      '--json',
    ])
    expect(simulate.stderr).toBe('')
    expect(simulate.status).toBe(0)
    expect(simulate.stdout).toMatch(/"w-tinylfu"|"lru"/)

    const log = path.join(project, 'keys.txt')
    writeFileSync(log, Array.from({ length: 5000 }, (_, i) => `user:${(i * 7919) % 300}:profile`).join('\n'))
    const analyze = inProject('npx', ['--no-install', 'stratacache', 'analyze', log])
    expect(analyze.status).toBe(0)
    expect(analyze.stdout).toContain('user:{id}:profile')
  }, 120_000)

  it('says in one line which package the demo needs when better-sqlite3 is not installed', () => {
    const demo = inProject('npx', ['--no-install', 'stratacache', 'demo', '--requests', '10'])
    expect(demo.status).toBe(1)
    const lines = demo.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/better-sqlite3.*npm install better-sqlite3@12/)
  })

  it('typechecks a strict TypeScript consumer against the shipped types', () => {
    writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          noImplicitAny: true,
          skipLibCheck: false,
          noEmit: true,
          types: ['node'],
          typeRoots: [TYPE_ROOTS],
        },
        files: ['consumer.ts'],
      }),
    )
    writeFileSync(
      path.join(project, 'consumer.ts'),
      `import { type Cache, createCache, key } from 'stratacache'
import { Redis } from 'ioredis'
import { TaggedJsonSerializer } from 'stratacache/serializers'
import { RedisTier } from 'stratacache/redis'

interface Product {
  id: number
  name: string
  tags: string[]
}

const cache: Cache = createCache({ namespace: 'shop', l2: { redis: new Redis({ lazyConnect: true }) } })
export async function productName(id: number): Promise<string> {
  const product = await cache.getOrSet({
    key: key('product', id),
    ttl: '5m',
    factory: async (): Promise<Product> => ({ id, name: 'lamp', tags: [] }),
  })
  const name: string = product.name
  return name
}
export const serializer = new TaggedJsonSerializer()
export type Tier = RedisTier
`,
    )
    const result = spawnSync('node', [TSC, '-p', path.join(project, 'tsconfig.json')], {
      cwd: project,
      encoding: 'utf8',
    })
    expect(result.stdout + result.stderr).toBe('')
    expect(result.status).toBe(0)
    // skipLibCheck off checks @types/node too: tens of seconds on a loaded machine.
  }, 180_000)
})

describe('the README for a user', () => {
  it('keeps the two repository commands first, then an Install section with the install line', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8')
    const blocks = [...readme.matchAll(/```(\w*)\n([\s\S]*?)```/g)]
    expect(blocks[0]?.[2]).toMatch(/^npm ci && npm run demo {4}#[^\n]*\nnpm test {18}#/)
    const install = readme.indexOf('## Install')
    expect(install).toBeGreaterThan(readme.indexOf(blocks[0]?.[0] ?? '\u0000'))
    expect(install).toBeLessThan(readme.indexOf('## Quickstart'))
    expect(readme.slice(install)).toMatch(/^## Install\n\n```bash\nnpm install stratacache ioredis /)
    expect(readme).toMatch(/ES module package[\s\S]{0,200}require\('stratacache'\)/)
  })
})

describe('the package manifest', () => {
  it('has no runtime dependencies; better-sqlite3 is an optional peer (the demo) and a dev dependency', () => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>
      peerDependencies: Record<string, string>
      peerDependenciesMeta: Record<string, { optional?: boolean }>
      devDependencies: Record<string, string>
      engines: { node: string }
    }
    expect(manifest.dependencies ?? {}).toEqual({})
    expect(manifest.peerDependencies['better-sqlite3']).toMatch(/^\^12\./)
    expect(manifest.peerDependenciesMeta['better-sqlite3']?.optional).toBe(true)
    expect(manifest.devDependencies['better-sqlite3']).toMatch(/^\^12\./)
    // require(esm) without a flag: Node 20.19.
    expect(manifest.engines.node).toBe('>=20.19')
  })
})
