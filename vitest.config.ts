import { defineConfig } from 'vitest/config'

// The default suite: unit tests of every package plus the fast cross-package tests.
// Slow fault-injection runs live under test/faults and run with `npm run test:faults`.
export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['test/faults/**', 'test/netns/**', '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
    maxWorkers: 2
  }
})
