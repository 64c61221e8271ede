/**
 * Import rules of the packages' sources, checked by `npm run lint` (dependency-cruiser):
 * no import cycle anywhere, and the package direction of CONTRIBUTING.md —
 * cli → rounds → node → {model, fedavg, ledger} → wire, nothing reaching back up; dashboard (the page node
 * serves) imports nothing of swarmtune.
 */
const pkg = (names) => `^packages/(${names})/src/`

/** A package may import only the packages below it. */
const layers = [
  ['dashboard', 'wire|fedavg|model|ledger|node|rounds|cli|test-support'],
  ['wire', 'fedavg|model|ledger|node|rounds|cli|test-support'],
  ['fedavg', 'model|ledger|node|rounds|cli|test-support'],
  ['model', 'ledger|node|rounds|cli|test-support'],
  ['ledger', 'model|node|rounds|cli|test-support'],
  ['node', 'rounds|cli|test-support'],
  ['rounds', 'cli|test-support']
]

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: modules that import each other, directly or through others. Move the shared part into a module both import.',
      from: {},
      to: { circular: true }
    },
    ...layers.map(([from, above]) => ({
      name: `${from}-imports-only-below`,
      severity: 'error',
      comment: `packages/${from} must not import ${above.split('|').join(', ')} (CONTRIBUTING.md, "Layout and dependency direction").`,
      from: { path: pkg(from) },
      to: { path: pkg(above) }
    })),
    {
      name: 'no-deep-package-import',
      severity: 'error',
      comment: 'Another package is imported by its name (its src/index.ts), never by a path into it (test-support, test code, may run the CLI\'s entry point).',
      from: { path: '^packages/([^/]+)/src/', pathNot: '^packages/test-support/' },
      to: { path: '^packages/([^/]+)/src/', pathNot: '^packages/$1/src/|^packages/[^/]+/src/index\\.ts$' }
    }
  ],
  options: {
    includeOnly: '^packages/[^/]+/src/',
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    preserveSymlinks: false,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
      extensions: ['.ts', '.js', '.json'],
      mainFields: ['main', 'types']
    },
    exclude: { path: 'node_modules' }
  }
}
