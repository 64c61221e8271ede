import { describe, expect, it } from 'vitest'

describe('workspace', () => {
  it('runs on Node.js 22 or newer', () => {
    const major = Number(process.versions.node.split('.')[0])
    expect(major).toBeGreaterThanOrEqual(22)
  })
})
