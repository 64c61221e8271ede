import { resolve } from 'node:path'
import { Option, type Command } from 'commander'
import { bootstrapOption, multiaddrOption, portOption } from '../options.js'
import { loadGenesis } from './community.js'
import { createDaemon, defaultDataDir, type AutoSwitch, type DaemonConfigInit, type DhtMode } from '@swarmtune/node'
import { defaultServices } from '@swarmtune/rounds'

interface DaemonFlags {
  dataDir: string
  listen?: string[]
  bootstrap?: string[]
  mdns?: boolean
  upnp?: boolean
  autonat?: boolean
  relay?: AutoSwitch
  relayReserve?: AutoSwitch
  dht?: DhtMode
  controlPort?: number
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  community?: string
}

/** Adds `swarmtune daemon` to the program. */
export function register (program: Command): void {
  program
    .command('daemon')
    .description('run the node in the foreground until interrupted; logs are JSON lines on stdout (pino format: one object per line with level, time and msg)')
    .option('-d, --data-dir <path>', 'data folder created by `swarmtune init` (env SWARMTUNE_HOME)', defaultDataDir())
    .option('--listen <multiaddr>', 'listen on this address instead of the configured ones (repeatable)', multiaddrOption('--listen'))
    .option('--bootstrap <multiaddr>', 'use this bootstrap peer instead of the configured ones, ending in /p2p/<peer id> (repeatable)', bootstrapOption())
    .option('--no-mdns', 'turn mDNS discovery off for this run')
    .option('--no-upnp', 'do not ask the router to map the listen ports (UPnP) in this run')
    .option('--no-autonat', 'do not check reachability with peers (AutoNAT v2) in this run')
    .addOption(new Option('--relay <mode>', 'offer circuit relay reservations to unreachable peers in this run (auto: when this node has a public address)').choices(['auto', 'on', 'off']))
    .addOption(new Option('--relay-reserve <mode>', 'reserve slots on relays among the peers in this run (auto: when behind NAT)').choices(['auto', 'on', 'off']))
    .addOption(new Option('--dht <mode>', 'DHT participation for this run').choices(['auto', 'server', 'client', 'off']))
    .option('--control-port <port>', 'control API port for this run', portOption('--control-port'))
    .addOption(new Option('--log-level <level>', 'log level for this run').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .option('--community <genesis file>', 'join the community this genesis file creates (instead of "community" in rounds.json)')
    .action(async (flags: DaemonFlags) => {
      // the genesis file is checked here (regular file, size, signature) before anything starts
      if (flags.community !== undefined) await loadGenesis(resolve(flags.community))
      const overrides: DaemonConfigInit = {}
      if (flags.listen != null) overrides.listen = flags.listen
      if (flags.bootstrap != null) overrides.bootstrap = flags.bootstrap
      if (flags.mdns === false) overrides.mdns = false
      if (flags.upnp === false || flags.autonat === false) overrides.nat = { ...(flags.upnp === false ? { upnp: false } : {}), ...(flags.autonat === false ? { autonat: false } : {}) }
      if (flags.relay != null || flags.relayReserve != null) overrides.relay = { ...(flags.relay != null ? { serve: flags.relay } : {}), ...(flags.relayReserve != null ? { reserve: flags.relayReserve } : {}) }
      if (flags.dht != null) overrides.dht = { mode: flags.dht }
      if (flags.controlPort != null) overrides.control = { port: flags.controlPort }
      if (flags.logLevel != null) overrides.log = { level: flags.logLevel }
      const daemon = await createDaemon({ dataDir: flags.dataDir, config: overrides, services: defaultServices({ rounds: { community: flags.community === undefined ? undefined : resolve(flags.community) } }) })
      await daemon.start()
      await new Promise<void>((resolve) => {
        let stopping = false
        const stop = (signal: NodeJS.Signals): void => {
          if (stopping) {
            daemon.log.warn({ signal }, 'second signal: exiting without a clean stop')
            process.exit(130)
          }
          stopping = true
          daemon.log.info({ signal }, 'stopping')
          daemon.stop().then(resolve, (err: unknown) => {
            daemon.log.error({ err }, 'stop failed')
            process.exitCode = 1
            resolve()
          }).finally(() => {
            process.off('SIGINT', stop)
            process.off('SIGTERM', stop)
          })
        }
        process.on('SIGINT', stop)
        process.on('SIGTERM', stop)
      })
    })
}
