import { Option, type Command } from 'commander'
import { bootstrapOption, multiaddrOption, portOption } from '../options.js'
import { defaultDataDir, initDataDir, type ConfigChange, type DaemonConfigInit, type DhtMode } from '@swarmtune/node'

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

/** A changed setting as `field: old → new` (JSON values). */
function changeText (c: ConfigChange): string {
  return `${c.field}: ${JSON.stringify(c.from)} → ${JSON.stringify(c.to)}`
}

/** Adds `swarmtune init` to the program. */
export function register (program: Command): void {
  program
    .command('init')
    .description('create a data folder: an Ed25519 identity (mode 0600), a control-API token and config.json; on an existing folder, change the settings given')
    .option('-d, --data-dir <path>', 'data folder (env SWARMTUNE_HOME)', defaultDataDir())
    .option('--listen <multiaddr>', 'libp2p listen address (repeatable; default /ip4/0.0.0.0/tcp/4101)', multiaddrOption('--listen'))
    .option('--announce <multiaddr>', 'address to announce instead, e.g. a forwarded public port (repeatable)', multiaddrOption('--announce'))
    .option('--bootstrap <multiaddr>', 'peer to dial at start, ending in /p2p/<peer id> (repeatable)', bootstrapOption())
    .option('--no-mdns', 'do not look for peers on the local network with mDNS')
    .addOption(new Option('--dht <mode>', 'Kademlia DHT participation').choices(['auto', 'server', 'client', 'off']))
    .option('--control-port <port>', 'control API port on 127.0.0.1 (0 picks a free one)', portOption('--control-port'))
    .option('--community <cid>', 'community id to join at start (repeatable)', collect)
    .option('--reset-config', 'on an existing folder: rewrite config.json from defaults and these flags, keeping the identity (prints what it reset); without it the flags given change only their own settings')
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
      const update = Object.keys(config).length > 0
      const result = await initDataDir(flags.dataDir, { config, resetConfig: flags.resetConfig === true, update })
      if (flags.json === true) {
        process.stdout.write(JSON.stringify({ peerId: result.peerId.toString(), dataDir: result.paths.root, config: result.paths.config, created: result.created, changes: result.changes }) + '\n')
        return
      }
      const changes = result.changes.length === 0 ? ['  (no setting changed)'] : result.changes.map((c) => `  ${changeText(c)}`)
      const head = result.created
        ? [`Initialised ${result.paths.root}`]
        : flags.resetConfig === true
          ? [`Rewrote ${result.paths.config} from defaults${update ? ' and the options given' : ''} (identity kept); settings changed:`, ...changes]
          : [`Updated ${result.paths.config} (identity and other settings kept):`, ...changes]
      process.stdout.write([
        ...head,
        `  peer id   ${result.peerId.toString()}`,
        `  config    ${result.paths.config}`,
        `  identity  ${result.paths.key} (keep it private; it is this node's identity)`,
        result.created ? `Start the daemon with \`swarmtune daemon -d ${result.paths.root}\`.` : `A running daemon reads config.json at start: restart it (\`swarmtune daemon -d ${result.paths.root}\`) for the change to apply.`
      ].join('\n') + '\n')
    })
}
