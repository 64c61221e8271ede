/**
 * The daemon of the peer-retention benchmark, in a process of its own (started by peer-retention.bench.ts
 * with `--expose-gc` and an IPC channel): a daemon on 127.0.0.1 that joined the community given as argv[2],
 * with argv[3] (JSON) merged into its configuration. It answers `{ type: 'measure' }` with its memory after a
 * forced full GC and the sizes of what it keeps of peers (`PeerRetention.stats()`), and `{ type: 'stop' }` by
 * stopping.
 */
import { createDaemon, initDataDir, type DaemonConfigInit } from '@swarmtune/node'
import { pino } from 'pino'
import { tempDir } from '@swarmtune/test-support'
import { testConfig } from '@swarmtune/test-support/daemons'

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined || process.send === undefined) throw new Error('run by peer-retention.bench.ts: node --expose-gc with an IPC channel')
const send = process.send.bind(process)
const dir = await tempDir('swarmtune-retention-bench-')
await initDataDir(dir.path, { config: testConfig({ communities: [process.argv[2]], ...(JSON.parse(process.argv[3] ?? '{}') as DaemonConfigInit) }) })
const daemon = await createDaemon({ dataDir: dir.path, logger: pino({ level: 'silent' }), maintenanceIntervalMs: 60_000 })
await daemon.start()

process.on('message', (m: { type: string }) => {
  void (async () => {
    if (m.type === 'measure') {
      // several passes: weak references and finalizers free more on the next one
      for (let i = 0; i < 4; i++) {
        gc()
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      const mem = process.memoryUsage()
      send({ type: 'measured', heapUsed: mem.heapUsed, external: mem.external, rss: mem.rss, connections: daemon.libp2p.getConnections().length, ...(await daemon.libp2p.services.retention.stats()) })
    } else if (m.type === 'stop') {
      await daemon.stop()
      await dir.cleanup()
      process.exit(0)
    }
  })()
})
send({ type: 'ready', addr: daemon.libp2p.getMultiaddrs()[0].toString() })
