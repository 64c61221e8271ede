#!/usr/bin/env node
// Entry point of the `swarmtune` command. Checks the Node.js version, registers the TypeScript loader
// (tsx) for this thread and for worker threads / child processes started from it, then runs the CLI.
const [major] = process.versions.node.split('.').map(Number)
if (major < 22) {
  process.stderr.write(
    `swarmtune: Node.js ${process.versions.node} is too old (ERR_NODE_VERSION): Node.js 22 or newer is required.\n` +
    'Run it through npm (`npx swarmtune …` or `npm run swarmtune -- …`), which uses the Node 22 runtime the project pins, or install Node 22.\n'
  )
  process.exit(1)
}
const { register } = await import('tsx/esm/api')
register()
if (!process.execArgv.includes('--import')) {
  // worker threads and forked processes inherit execArgv: make them load TypeScript too
  process.execArgv.push('--import', 'tsx')
}
const { main } = await import('../src/main.ts')
await main(process.argv)
