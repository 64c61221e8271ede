import { defineConfig } from 'vitest/config'

// Long fault-injection and soak runs: `npm run test:faults`. Not part of `npm test`.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 300_000,
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
    maxWorkers: 1
  }
})
