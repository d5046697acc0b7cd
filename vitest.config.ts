import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Fault and integration suites start their own redis-server; two at a time fit two cores.
    maxWorkers: 2,
    reporters: ['default'],
  },
})
