/**
 * The node commands of the `swarmtune` CLI: `init`, `status`, `peers` and `doctor` run in-process against
 * real daemons; `daemon` runs as a real process started through the `swarmtune` bin and stopped with SIGTERM.
 */
import { spawn } from 'node:child_process'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ControlClient, dataDirPaths } from '@swarmtune/node'
import { Cleanups, tempDir, waitFor } from '@swarmtune/test-support'
import { closedPort, startNode, testDataDir, type TestNode } from '@swarmtune/test-support/daemons'
import { runCli } from '@swarmtune/test-support/cli'

describe('swarmtune node commands', () => {
  const cleanups = new Cleanups()
  afterAll(cleanups.run)

  it('init creates a data folder and refuses to overwrite it', async () => {
    const dir = await tempDir()
    cleanups.push(dir.cleanup)
    const target = join(dir.path, 'node')
    const { stdout: out } = await runCli(['init', '-d', target, '--listen', '/ip4/127.0.0.1/tcp/0', '--control-port', '0', '--no-mdns', '--dht', 'off', '--json'], { reject: 'error' })
    const result = JSON.parse(out) as { peerId: string, created: boolean }
    expect(result.created).toBe(true)
    expect(result.peerId).toMatch(/^12D3KooW/)
    expect((await stat(dataDirPaths(target).key)).mode & 0o777).toBe(0o600)
    const config = JSON.parse(await readFile(dataDirPaths(target).config, 'utf8')) as { mdns: boolean, dht: { mode: string }, control: { port: number } }
    expect(config).toMatchObject({ mdns: false, dht: { mode: 'off' }, control: { port: 0 } })
    await expect(runCli(['init', '-d', target], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_NODE_DATA_DIR_EXISTS' })
    await expect(runCli(['init', '-d', join(dir.path, 'bad'), '--listen', 'nonsense'], { reject: 'error' })).rejects.toMatchObject({ code: 'commander.invalidArgument', message: expect.stringContaining('--listen "nonsense"') })
    await expect(runCli(['init', '-d', join(dir.path, 'bad'), '--control-port', '99999'], { reject: 'error' })).rejects.toMatchObject({ code: 'commander.invalidArgument' })
  })

  it('status and peers report a running daemon, as text and as JSON', async () => {
    const a = await startNode()
    const b = await startNode({ config: { bootstrap: [a.daemon.addresses()[0]] } })
    cleanups.push(a.destroy, b.destroy)
    await waitFor(() => b.daemon.libp2p.getPeers().length === 1, 5_000, 'connection')

    const status = JSON.parse((await runCli(['status', '-d', b.dir, '--json'], { reject: 'error' })).stdout) as { peerId: string, peers: number }
    expect(status).toMatchObject({ peerId: b.daemon.peerId.toString(), peers: 1 })
    const text = (await runCli(['status', '-d', b.dir], { reject: 'error' })).stdout
    expect(text).toContain(`peer id      ${b.daemon.peerId.toString()}`)
    expect(text).toMatch(/connections\s+1 to 1 peer/)

    const peers = JSON.parse((await runCli(['peers', '-d', b.dir, '--json'], { reject: 'error' })).stdout) as Array<{ peerId: string }>
    expect(peers.map((p) => p.peerId)).toEqual([a.daemon.peerId.toString()])
    expect((await runCli(['peers', '-d', b.dir], { reject: 'error' })).stdout).toContain(a.daemon.peerId.toString())
  })

  it('status without a running daemon says how to start one', async () => {
    const dir = await tempDir()
    cleanups.push(dir.cleanup)
    await testDataDir(dir.path)
    await expect(runCli(['status', '-d', dir.path], { reject: 'error' })).rejects.toMatchObject({ code: 'ERR_NODE_DAEMON_NOT_RUNNING', message: expect.stringContaining('swarmtune daemon') })
  })

  it('doctor checks Node, the data folder, the daemon, listening addresses and bootstrap reachability', async () => {
    const hub = await startNode()
    cleanups.push(hub.destroy)
    const unreachable = `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${hub.daemon.peerId.toString()}`
    const n: TestNode = await startNode({ config: { bootstrap: [hub.daemon.addresses()[0], unreachable] } })
    cleanups.push(n.destroy)
    const { stdout: out, exitCode } = await runCli(['doctor', '-d', n.dir, '--json', '--timeout', '1000'], { reject: 'error' })
    const checks = JSON.parse(out) as Array<{ name: string, status: string, detail: string, data?: unknown }>
    const find = (name: string): Array<{ status: string, detail: string, data?: unknown }> => checks.filter((c) => c.name === name)
    expect(find('node')[0].status).toBe('ok')
    expect(find('data folder')[0].status).toBe('ok')
    expect(find('daemon')[0]).toMatchObject({ status: 'ok' })
    expect(find('listen')).toEqual([expect.objectContaining({ status: 'ok', detail: expect.stringContaining('loopback, accepts connections') })])
    expect(find('bootstrap').map((c) => c.status).sort()).toEqual(['ok', 'warn'])
    expect(find('reachability')[0].detail).toContain('1 of 2 bootstrap peers answer')
    // training backends from @swarmtune/model: every backend listed, and one that can train each task
    expect(find('backend').map((c) => (c.data as { id: string }).id)).toEqual(['node-gpu', 'node', 'wasm', 'cpu'])
    expect(find('backend').some((c) => c.status === 'ok')).toBe(true)
    expect(find('training').length).toBeGreaterThan(0)
    expect(find('training').every((c) => c.status === 'ok')).toBe(true)
    expect(find('training').map((c) => c.detail).filter((d) => d.startsWith('task causal LM (gpt2, llama, qwen2) with LoRA: '))).toHaveLength(1)
    expect(exitCode).toBe(0)

    // a broken data folder is a failure with its code, and the exit code says so
    const empty = await tempDir()
    cleanups.push(empty.cleanup)
    const broken = await runCli(['doctor', '-d', empty.path], { reject: 'error' })
    expect(broken.stdout).toMatch(/✗ data folder .*ERR_NODE_DATA_DIR_MISSING/)
    expect(broken.exitCode).toBe(1)
  })

  it('`swarmtune daemon` runs as a process, serves the control API and stops cleanly on SIGTERM', async () => {
    const dir = await tempDir()
    cleanups.push(dir.cleanup)
    await testDataDir(dir.path)
    const bin = join(import.meta.dirname, '../packages/cli/bin/swarmtune.js')
    const child = spawn(process.execPath, [bin, 'daemon', '-d', dir.path, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => { output += d.toString() })
    child.stderr.on('data', (d: Buffer) => { output += d.toString() })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code) }))
    try {
      await waitFor(async () => await stat(dataDirPaths(dir.path).daemonInfo).then(() => true, () => false) || child.exitCode != null, 30_000, 'daemon.json')
      expect(child.exitCode, output).toBeNull()
      const client = await ControlClient.fromDataDir(dir.path)
      const status = await client.status()
      expect(status.pid).toBe(child.pid)
      // logs are JSON lines
      const started = output.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string, peerId?: string }).find((l) => l.msg === 'daemon started')
      expect(started, output).toMatchObject({ msg: 'daemon started', peerId: status.peerId })
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
    await expect(stat(dataDirPaths(dir.path).daemonInfo)).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(stat(dataDirPaths(dir.path).lock)).rejects.toMatchObject({ code: 'ENOENT' })
  })
})
