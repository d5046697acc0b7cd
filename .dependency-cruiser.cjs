/**
 * The layers of src/, checked by `npm run lint` (dependency-cruiser). docs/architecture.md draws them.
 *
 *   surface     index.ts, http/, keyv/, cli/, analysis/, observability/dashboard/   (what users call)
 *   core        core/                                                          (the Cache and its parts)
 *   mechanisms  tiers/, invalidation/, coordination/, resilience/, security/, serialization/,
 *               keys/, eviction/, ttl/, write/, simulation/, observability/ (the rest)
 *   base        base/, errors.ts                                               (durations, deadlines, the clock, errors)
 *
 * A layer imports only from the layers below it (and from itself); no import cycle anywhere.
 */
const BASE = '^src/(base/|errors\\.ts$)'
const CORE = '^src/core/'
const SURFACE = '^src/(index\\.ts$|http/|keyv/|cli/|analysis/|observability/dashboard/)'
const MECHANISMS =
  '^src/(tiers|invalidation|coordination|resilience|security|serialization|keys|eviction|ttl|write|simulation)/|^src/observability/(?!dashboard/)'

module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'An import cycle: split the shared part out into the lower file (see docs/architecture.md#layers).',
      // The cli/demo http ↔ run cycle is broken by issue 20 (h4b); drop this pathNot when it lands.
      from: { path: '^src/', pathNot: '^src/cli/demo/(http|run)\\.ts$' },
      to: { circular: true },
    },
    {
      name: 'base-imports-nothing-above',
      severity: 'error',
      comment: 'base/ is the shared vocabulary: it imports only base/ and errors.ts.',
      from: { path: BASE },
      to: { path: '^src/', pathNot: BASE },
    },
    {
      name: 'mechanisms-do-not-import-core-or-surface',
      severity: 'error',
      comment:
        'A mechanism (tiers, security, observability, ...) is used by the core, never the reverse: move the shared type down (base/, or the mechanism itself).',
      from: { path: MECHANISMS },
      to: { path: `${CORE}|${SURFACE}` },
    },
    {
      name: 'core-does-not-import-surface',
      severity: 'error',
      comment: 'The core knows nothing of the CLI, the HTTP layer, the analyzer or the public index.',
      from: { path: CORE },
      to: { path: SURFACE },
    },
    {
      name: 'every-file-has-a-layer',
      severity: 'error',
      comment: 'A new folder under src/ must be given a layer in .dependency-cruiser.cjs.',
      from: { path: '^src/', pathNot: `${BASE}|${CORE}|${SURFACE}|${MECHANISMS}` },
      to: {},
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
}
