import { Option, type Command } from 'commander'
import { portOption } from '../options.js'
import { defaultDataDir, initDataDir, type DaemonConfigInit, type DhtMode } from '@swarmtune/node'

interface InitFlags {
  dataDir: string
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  mdns: boolean
  dht?: DhtMode
  controlPort?: number
  community?: string[]
  resetConfig?: boolean
  json?: boolean
}

function collect (value: string, previous: string[] = []): string[] {
  return [...previous, value]
}

/** Adds `swarmtune init` to the program. */
export function register (program: Command): void {
  program
    .command('init')
    .description('create a data folder: an Ed25519 identity (mode 0600), a control-API token and config.json')
    .option('-d, --data-dir <path>', 'data folder (env SWARMTUNE_HOME)', defaultDataDir())
    .option('--listen <multiaddr>', 'libp2p listen address (repeatable; default /ip4/0.0.0.0/tcp/4101)', collect)
    .option('--announce <multiaddr>', 'address to announce instead, e.g. a forwarded public port (repeatable)', collect)
    .option('--bootstrap <multiaddr>', 'peer to dial at start, ending in /p2p/<peer id> (repeatable)', collect)
    .option('--no-mdns', 'do not look for peers on the local network with mDNS')
    .addOption(new Option('--dht <mode>', 'Kademlia DHT participation').choices(['auto', 'server', 'client', 'off']))
    .option('--control-port <port>', 'control API port on 127.0.0.1 (0 picks a free one)', portOption('--control-port'))
    .option('--community <cid>', 'community id to join at start (repeatable)', collect)
    .option('--reset-config', 'on an existing folder: rewrite config.json from defaults and these flags, keeping the identity')
    .option('--json', 'print the result as JSON')
    .action(async (flags: InitFlags) => {
      const config: DaemonConfigInit = {}
      if (flags.listen != null) config.listen = flags.listen
      if (flags.announce != null) config.announce = flags.announce
      if (flags.bootstrap != null) config.bootstrap = flags.bootstrap
      if (!flags.mdns) config.mdns = false
      if (flags.dht != null) config.dht = { mode: flags.dht }
      if (flags.controlPort != null) config.control = { port: flags.controlPort }
      if (flags.community != null) config.communities = flags.community
      const result = await initDataDir(flags.dataDir, { config, resetConfig: flags.resetConfig === true })
      if (flags.json === true) {
        process.stdout.write(JSON.stringify({ peerId: result.peerId.toString(), dataDir: result.paths.root, config: result.paths.config, created: result.created }) + '\n')
        return
      }
      process.stdout.write([
        result.created ? `Initialised ${result.paths.root}` : `Rewrote ${result.paths.config} (identity kept)`,
        `  peer id   ${result.peerId.toString()}`,
        `  config    ${result.paths.config}`,
        `  identity  ${result.paths.key} (keep it private; it is this node's identity)`,
        `Start the daemon with \`swarmtune daemon -d ${result.paths.root}\`.`
      ].join('\n') + '\n')
    })
}
