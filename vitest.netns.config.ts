import { defineConfig } from 'vitest/config'

// NAT, relay and hole-punching tests in network namespaces (root, iproute2, nftables, miniupnpd):
// `npm run test:netns`. Not part of `npm test`; `.ci/run` runs it after the fault-injection suite.
export default defineConfig({
  test: {
    include: ['test/netns/**/*.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 600_000,
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
    maxWorkers: 1
  }
})
