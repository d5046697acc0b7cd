import { defineConfig } from 'vitest/config'

/**
 * Three groups, run one after the other. The first holds the suites that load both cores for long
 * stretches (multi-process write-behind, 100,000-entry key rotation, million-event analyses, the
 * soak with Redis killed under full load); the second holds everything else, including the
 * suites that measure time (fault deadlines, refresh-before-expiry), which would otherwise share
 * the cores with the first group; the third, alone, the 3-process suite that measures bus
 * propagation delays.
 */
/** Measures propagation delays between processes to the millisecond: it runs last, alone. */
const ALONE = ['test/integration/invalidation-processes.test.ts']

const CPU_HEAVY = [
  'test/integration/write-behind/**/*.test.ts',
  'test/integration/security/rotation.test.ts',
  'test/analysis/**/*.test.ts',
  'test/cli/analyze*.test.ts',
  // Two processes at full CPU for 45 s, Redis killed under them.
  'test/integration/resilience/soak.test.ts',
]

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Fault and integration suites start their own redis-server; two at a time fit two cores.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'cpu-heavy', include: CPU_HEAVY, sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: [...CPU_HEAVY, ...ALONE],
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: { name: 'alone', include: ALONE, fileParallelism: false, sequence: { groupOrder: 3 } },
      },
    ],
  },
})
