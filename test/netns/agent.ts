/**
 * A helper process inside one network namespace (`ip netns exec <ns> node --import tsx agent.ts`): the test
 * process cannot reach a namespace's loopback, where the daemons' control APIs listen, so it sends this process
 * one JSON request a line on stdin and reads one JSON answer a line on stdout.
 *
 * Requests: `{ id, op: 'cli', args }` runs `swarmtune <args>` in this process (as the bin runs it);
 * `{ id, op: 'put', dir, hex }` stores a blob in the daemon of data folder `dir`; `{ id, op: 'fetch', dir, cid,
 * providers? }` fetches one. Answers: `{ id, ok: true, value }` or `{ id, ok: false, error: { code, message } }`.
 */
import { createInterface } from 'node:readline'
import { ControlClient } from '@swarmtune/node'
import { runCli } from '@swarmtune/test-support/cli'

interface Request { id: number, op: 'cli' | 'put' | 'fetch', args?: string[], dir?: string, hex?: string, cid?: string, providers?: string[] }

const out = process.stdout.write.bind(process.stdout)

async function handle (r: Request): Promise<unknown> {
  if (r.op === 'cli') {
    const run = await runCli(r.args ?? [])
    return { exitCode: run.exitCode, stdout: run.stdout, stderr: run.stderr }
  }
  const client = await ControlClient.fromDataDir(r.dir as string)
  if (r.op === 'put') return await client.putBlob(Buffer.from(r.hex as string, 'hex'))
  return await client.fetchBlob(r.cid as string, { providers: r.providers })
}

// requests run one at a time: runCli captures process.stdout while a command runs
let queue = Promise.resolve()
createInterface({ input: process.stdin }).on('line', (line) => {
  const r = JSON.parse(line) as Request
  queue = queue.then(async () => {
    try {
      const value = await handle(r)
      out(JSON.stringify({ id: r.id, ok: true, value }) + '\n')
    } catch (err) {
      const e = err as { code?: string, message?: string }
      out(JSON.stringify({ id: r.id, ok: false, error: { code: e.code, message: e.message } }) + '\n')
    }
  })
}).on('close', () => { void queue.then(() => process.exit(0)) })
out(JSON.stringify({ ready: true }) + '\n')
