/**
 * `npm run demo` itself, small: run to the end it passes its checks and exits with status 0; interrupted
 * with SIGINT in the middle of a round it exits with status 130. Either way every daemon it started is gone
 * and its temporary folder removed. `--model mobilenet-v2` (the pretrained MobileNetV2, head + LoRA, one image
 * folder per volunteer) runs 5 rounds to the end the same way, each round more accurate than the one before (a full
 * 6-round demo took 8 to 9 minutes here under a load average of 25–35 from other work), and `--model lm` (a small
 * Llama pretrained on Moby-Dick, made once and cached, LoRA-fine-tuned on each volunteer's texts) 3 rounds.
 * `--dashboard` keeps the community up after its rounds, prints a dashboard login URL that works, and stops on SIGINT.
 */
import { spawn } from 'node:child_process'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../../scripts/lib/cli.js'

/** A small demo: 2 volunteers, 20-step rounds on the first 6,000 MNIST training examples. */
const SMALL = ['--volunteers', '2', '--steps', '20', '--train-examples', '6000', '--target', '0.5']

interface Run {
  output: () => string
  exited: Promise<number | null>
  /** The exit status once the process has exited. */
  code: () => number | null | undefined
  signal: (s: NodeJS.Signals) => void
}

function runDemo (args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'demo.ts'), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { output += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { output += s })
  let status: number | null | undefined
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { status = code; resolve(code) }))
  return { output: () => output, exited, code: () => status, signal: (s) => { child.kill(s) } }
}

/** The daemons' pids and the temporary folder, as the demo printed them. */
function started (output: string): { pids: number[], root: string } {
  const root = /data folders under (\S+)\)/.exec(output)?.[1] ?? ''
  const pids = [...output.matchAll(/^\s+(?:maintainer|volunteer-\d+)\s+pid (\d+)/gm)].map((m) => Number(m[1]))
  return { pids, root }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
const exists = async (path: string): Promise<boolean> => await access(path).then(() => true, () => false)

describe('npm run demo', () => {
  it('--dashboard keeps the community up after its rounds and prints a dashboard login URL that shows them; Ctrl-C stops it', async () => {
    const run = runDemo([...SMALL, '--rounds', '1', '--dashboard'])
    try {
      let url: string | undefined
      while (url === undefined && run.code() === undefined) {
        url = /^dashboard \(the maintainer's daemon\): (\S+)$/m.exec(run.output())?.[1]
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
      expect(url, run.output()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/dashboard\/login\?code=/)
      expect(run.output()).toMatch(/all \d+ checks passed/)
      const origin = new URL(url as string).origin
      expect((await fetch(`${origin}/dashboard/api/snapshot`)).status).toBe(401)
      const login = await fetch(url as string, { redirect: 'manual' })
      expect(login.status).toBe(303)
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]
      const snapshot = await (await fetch(`${origin}/dashboard/api/snapshot`, { headers: { cookie } })).json() as { rounds: unknown[], releases: Array<{ round: number }>, peers: unknown[] }
      expect(snapshot.releases.map((r) => r.round)).toEqual([1])
      expect(snapshot.rounds).toHaveLength(1)
      // the volunteers are still up and connected after the rounds
      expect(snapshot.peers).toHaveLength(2)
      const { pids, root } = started(run.output())
      expect(pids.filter(alive)).toHaveLength(3)
      run.signal('SIGINT')
      expect(await run.exited).toBe(130)
      expect(pids.filter(alive)).toEqual([])
      expect(await exists(root)).toBe(false)
    } finally {
      run.signal('SIGKILL')
    }
  })

  it('passes its checks, exits with status 0 and leaves nothing behind', async () => {
    const run = runDemo([...SMALL, '--rounds', '2'])
    const code = await run.exited
    const out = run.output()
    expect(code, out).toBe(0)
    expect(out).toMatch(/all \d+ checks passed/)
    expect(out).not.toContain('FAIL')
    expect(out).toMatch(/^\s+2\/2\s+2\s+2\s+\d+\.\d+ %/m)
    const { pids, root } = started(out)
    expect(pids).toHaveLength(3)
    expect(pids.filter(alive)).toEqual([])
    expect(root).toMatch(/swarmtune-demo-/)
    expect(await exists(root)).toBe(false)
  })

  it('--model mobilenet-v2: 4 volunteers with image folders, 5 rounds, accuracy rising in every round, each contribution ≤ 1 % of the model, the ledger and releases verified', async () => {
    const run = runDemo(['--model', 'mobilenet-v2', '--rounds', '5', '--target', '0.5'])
    const code = await run.exited
    const out = run.output()
    expect(code, out).toBe(0)
    expect(out).toMatch(/all 12 checks passed in .*; final test accuracy \d+\.\d+ %/)
    expect(out).not.toContain('FAIL')
    for (const check of ['ledger verify', 'release verify', 'contribution', 'rising']) expect(out).toMatch(new RegExp(`^  ok {4}${check}`, 'm'))
    // the strict check: each of the 5 rounds more accurate than the one before
    expect(out).toMatch(/^ {2}ok {4}rising +each of 5 rounds above the one before: 1: \d+\.\d+ % → 2: /m)
    expect(out).toContain('swarmtune community create --from-tfjs mobilenet-v2 --head 0,1,2,3,4,5,6,7,8,9 --adapter lora')
    expect(out).toMatch(/swarmtune community join --data \S+\/images\/volunteer-<i> {2}×4/)
    // every row: the contribution beside the full model's 10.48 MB, a share under 1 %
    const rows = [...out.matchAll(/^\s+(\d)\/5\s+4\s+4\s+(\d+\.\d+) %\s+(\S+ kB)\s+10\.48 MB\s+(0\.\d+) %/gm)]
    expect(rows.map((r) => Number(r[1])), out).toEqual([1, 2, 3, 4, 5])
    for (const r of rows) expect(Number(r[4])).toBeLessThan(1)
    const { pids, root } = started(out)
    expect(pids).toHaveLength(5)
    expect(pids.filter(alive)).toEqual([])
    expect(await exists(root)).toBe(false)
  })

  it('--model lm: 3 volunteers with their own texts LoRA-fine-tune the small Llama pretrained on Moby-Dick; held-out perplexity falls every round; the ledger and releases verified', async () => {
    const run = runDemo(['--model', 'lm', '--rounds', '3'])
    const code = await run.exited
    const out = run.output()
    expect(code, out).toBe(0)
    expect(out).toMatch(/all 8 checks passed in .*; final held-out perplexity \d+\.\d+/)
    expect(out).not.toContain('FAIL')
    for (const check of ['ledger verify', 'release verify', 'perplexity']) expect(out).toMatch(new RegExp(`^  ok {4}${check}`, 'm'))
    expect(out).toMatch(/not a published model/)
    expect(out).toMatch(/swarmtune community create --from-hf \S+ --context 64 --rank 8/)
    const rows = [...out.matchAll(/^\s+(\d)\/3\s+3\s+3\s+(\d+\.\d+)\s+(\d+\.\d+)/gm)]
    expect(rows.map((r) => Number(r[1])), out).toEqual([1, 2, 3])
    const base = Number(/the base's held-out perplexity: (\d+\.\d+)/.exec(out)?.[1])
    const series = [base, ...rows.map((r) => Number(r[2]))]
    for (let i = 1; i < series.length; i++) expect(series[i]).toBeLessThan(series[i - 1])
    const { pids, root } = started(out)
    expect(pids).toHaveLength(4)
    expect(pids.filter(alive)).toEqual([])
    expect(await exists(root)).toBe(false)
  })

  it('stops every daemon and removes its folder on SIGINT in the middle of a round', async () => {
    const run = runDemo([...SMALL, '--rounds', '20'])
    const deadline = Date.now() + 240_000
    // wait until the first round closed, so the interrupt lands while the rounds run
    while (!/^\s+1\/20\s/m.test(run.output())) {
      if (run.code() !== undefined) throw new Error(`the demo exited with status ${String(run.code())} before its first round closed:\n${run.output()}`)
      if (Date.now() > deadline) throw new Error(`the demo did not close a round within 240 s:\n${run.output()}`)
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
    const { pids, root } = started(run.output())
    expect(pids.filter(alive)).toHaveLength(3)
    run.signal('SIGINT')
    const code = await run.exited
    const out = run.output()
    expect(code, out).toBe(130)
    expect(out).toContain('SIGINT: stopping every process this demo started')
    expect(out).not.toContain('demo failed')
    expect(pids.filter(alive)).toEqual([])
    expect(await exists(root)).toBe(false)
  })
})
