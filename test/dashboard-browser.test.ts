/**
 * The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by puppeteer-core through its
 * `executablePath`; `SWARMTUNE_CHROMIUM` names another binary) loads the page of a live community of real
 * daemons on 127.0.0.1 — a maintainer and two volunteers training MNIST — after four rounds. It checks that the
 * page refuses requests without the cookie; that what it tabulates and plots equals `swarmtune ledger export
 * --view releases` and `swarmtune round list --json`; that a fifth round appears without a reload; that no
 * Content-Security-Policy violation or script error happens; and saves a screenshot in the test's temporary
 * folder (also copied to `SWARMTUNE_DASHBOARD_SHOT` when that is set). Without Chromium the test fails with
 * the command that installs it.
 */
import { existsSync } from 'node:fs'
import { copyFile, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ControlClient } from '@swarmtune/node'
import type { RoundView } from '@swarmtune/rounds'
import { tempDir, waitFor, type TempDir } from '@swarmtune/test-support'
import { runCli } from '@swarmtune/test-support/cli'
import { destroyAll } from '@swarmtune/test-support/daemons'
import { ready, startMaintainer, startVolunteers, type Maintainer, type RoundsNode } from '@swarmtune/test-support/rounds'

const TRAIN = { steps: 5, batchSize: 50, learningRate: 0.1 }
const VOLUNTEERS = 2
/** Rounds before the page opens; one more runs while it is open. */
const ROUNDS_BEFORE = 4

/** The Chromium binary: `SWARMTUNE_CHROMIUM`, else Debian's. @throws Error naming how to install it. */
function chromiumPath (): string {
  const path = process.env.SWARMTUNE_CHROMIUM ?? '/usr/bin/chromium'
  if (!existsSync(path)) {
    throw new Error(`no Chromium at ${path}: the dashboard's browser test needs one. Install Debian's with \`sudo apt-get install -y chromium\`, ` +
      'or set SWARMTUNE_CHROMIUM to a Chromium or Chrome binary (README, "Tests and benchmarks")')
  }
  return path
}

let maintainer: Maintainer
let m: RoundsNode
let volunteers: RoundsNode[] = []
let browser: Browser | undefined
let dir: TempDir
const problems: string[] = []

async function runRound (): Promise<void> {
  const opened = await m.rounds.startRound({ ...TRAIN, durationMs: 60_000, quorum: VOLUNTEERS, maxContributions: VOLUNTEERS })
  const r = await m.rounds.waitClosed(opened.round, { timeoutMs: 120_000 })
  expect(r.outcome).toBe('released')
}

/** The `data-value` of every cell of table `name`, row by row, keyed by column. */
async function tableRows (page: Page, name: string): Promise<Array<Record<string, string>>> {
  return await page.$$eval(`table[data-table="${name}"] tbody tr`, (trs) => trs.map((tr) =>
    Object.fromEntries([...tr.querySelectorAll('td')].map((td) => [td.dataset.col as string, td.dataset.value as string]))))
}

/**
 * The page's globals as the callbacks run in the browser use them (this file is type-checked without the DOM
 * library; the casts are erased before a callback is sent to the page).
 */
interface PageGlobals {
  document: { cookie: string, body: { dataset: Record<string, string | undefined> }, querySelectorAll: (selector: string) => ArrayLike<{ dataset: Record<string, string | undefined> }> }
  marker?: number
}

const text = (v: unknown): string => v === undefined || v === null ? '' : Array.isArray(v) ? v.join(';') : String(v)

beforeAll(async () => {
  // a missing Chromium fails the test itself (below), so that the run counts it as failed, not skipped
  if (!existsSync(process.env.SWARMTUNE_CHROMIUM ?? '/usr/bin/chromium')) return
  const executablePath = chromiumPath()
  dir = await tempDir('swarmtune-dashboard-browser-')
  maintainer = await startMaintainer({ name: 'dashboard-browser' })
  m = maintainer.node
  volunteers = await startVolunteers(maintainer, VOLUNTEERS, { lossExamples: 200 })
  await ready([m, ...volunteers])
  for (let i = 0; i < ROUNDS_BEFORE; i++) await runRound()
  browser = await puppeteer.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] })
}, 400_000)

afterAll(async () => {
  await browser?.close()
  await destroyAll(volunteers)
  await maintainer?.cleanup()
  await dir?.cleanup()
})

describe('the dashboard in headless Chromium', () => {
  it('refuses the page without the cookie, then shows the ledger and control API values live, a new round without a reload', async () => {
    chromiumPath()
    const page = await (browser as Browser).newPage()
    await page.setViewport({ width: 1400, height: 1000 })
    page.on('console', (msg) => { if (msg.type() === 'error' && !/401/.test(msg.text())) problems.push(`console: ${msg.text()}`) })
    page.on('pageerror', (err) => { problems.push(`pageerror: ${String(err)}`) })
    const base = m.daemon.control.baseUrl as string

    // without the cookie: the page, its data and its event stream are refused
    const refused = await page.goto(`${base}/dashboard/`)
    expect(refused?.status()).toBe(401)
    const statuses = await page.evaluate(async () => await Promise.all(['/dashboard/api/snapshot', '/dashboard/api/events', '/dashboard/app.js'].map(async (u) => (await fetch(u)).status)))
    expect(statuses).toEqual([401, 401, 401])

    // the one-time login URL the CLI prints sets the cookie and lands on a URL without the code
    const login = JSON.parse((await runCli(['dashboard', '-d', maintainer.dir, '--json'], { reject: 'failure' })).stdout) as { url: string }
    const landed = await page.goto(login.url, { waitUntil: 'load' })
    expect(landed?.status()).toBe(200)
    expect(page.url()).toBe(`${base}/dashboard/`)
    const cookies = await (browser as Browser).cookies()
    expect(cookies.find((c) => c.name === 'swarmtune_dashboard')).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/dashboard' })
    // the cookie is not readable by the page's script
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).document.cookie)).toBe('')
    await page.waitForFunction((n) => (globalThis as unknown as PageGlobals).document.querySelectorAll('table[data-table="releases"] tbody tr').length === n, { timeout: 30_000 }, ROUNDS_BEFORE)
    await page.waitForSelector('#live[data-state="live"]', { timeout: 30_000 })

    const check = async (rounds: number): Promise<void> => {
      const exported = (await runCli(['ledger', 'export', '--view', 'releases', '--format', 'jsonl', '-d', maintainer.dir], { reject: 'failure' })).stdout
        .trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      const listed = JSON.parse((await runCli(['round', 'list', '--json', '-d', maintainer.dir], { reject: 'failure' })).stdout) as RoundView[]
      expect(exported).toHaveLength(rounds)
      expect(listed).toHaveLength(rounds)
      const peerOf = new Map((await new ControlClient({ url: base, token: m.daemon.dataDir.token }).ledger.view('heads')).map((h) => [h.author as string, '']))
      const identities = await page.$$eval('table[data-table="identities"] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.dataset.value as string)))
      for (const [peer, key] of identities) peerOf.set(key, peer)
      // releases: every metric and id as the ledger export writes it, contributors by peer id
      const releases = await tableRows(page, 'releases')
      expect(releases.map((r) => [r.round, r.release, r.parent, r.accuracy, r.loss, r.perplexity, r.evalExamples, r.contributions])).toEqual(
        exported.map((e) => [e.round, e.release, e.parent, e.accuracy, e.loss, e.perplexity, e.evalExamples, e.contributions].map(text)))
      expect(releases.map((r) => r.contributors)).toEqual(exported.map((e) => (e.contributors as string[]).map((k) => peerOf.get(k)).join(';')))
      // and as `round list` reports each round's release
      expect(releases.map((r) => [Number(r.round), r.release, Number(r.accuracy)])).toEqual(listed.map((l) => [l.round, l.release?.manifest, l.release?.metrics.accuracy]))
      // the accuracy plot draws exactly those values
      const points = JSON.parse(await page.$eval('[data-plot="metric-accuracy"]', (e) => e.getAttribute('data-points') as string)) as Array<{ round: number, accuracy: number }>
      expect(points).toEqual(exported.map((e) => ({ round: e.round, release: e.release, accuracy: e.accuracy })))
      expect(await page.$$eval('[data-plot="metric-accuracy"] canvas', (c) => c.length)).toBe(1)
      // contributions: each with its verdict, samples and bytes as round list has them
      const contributions = await tableRows(page, 'contributions')
      expect(contributions.map((c) => [c.round, c.peer, c.status, c.code, c.samples, c.bytes, c.contribution])).toEqual(listed.flatMap((l) => l.contributions.map((c) =>
        [l.round, c.peer, c.verdict === undefined ? 'pending' : c.verdict.accepted ? 'accepted' : 'rejected', c.verdict?.code, c.samples, c.blobBytes, c.id].map(text))))
      const stacked = JSON.parse(await page.$eval('[data-plot="contributions"]', (e) => e.getAttribute('data-points') as string)) as Array<{ round: number, series: string, value: number }>
      expect(stacked.reduce((s, p) => s + p.value, 0)).toBe(listed.reduce((s, l) => s + l.contributions.filter((c) => c.verdict?.accepted === true).reduce((n, c) => n + c.samples, 0), 0))
      // timelines: wall time, slowest training and overhead as round list reports them
      const timeline = await tableRows(page, 'timeline')
      expect(timeline.map((t) => [t.round, t.outcome, t.wallS, t.slowestTrainingS, t.overheadS, t.bytes])).toEqual(listed.map((l) =>
        [l.round, l.outcome, l.timing.wallMs === undefined ? undefined : l.timing.wallMs / 1000, l.timing.slowestTrainMs === undefined ? undefined : l.timing.slowestTrainMs / 1000,
          l.timing.overheadMs === undefined ? undefined : l.timing.overheadMs / 1000, l.timing.bytes].map(text)))
      expect(timeline.every((t) => Number(t.frozenS) <= Number(t.releaseS) && Number(t.releaseS) <= Number(t.closedS))).toBe(true)
      // the ledger: one chain per author, verify ok
      const chains = await tableRows(page, 'chains')
      const heads = await new ControlClient({ url: base, token: m.daemon.dataDir.token }).ledger.view('heads')
      expect(chains.map((c) => [c.key, c.entries, c.head]).sort()).toEqual(heads.map((h) => [h.author, h.length, h.id].map(text)).sort())
      expect((await tableRows(page, 'verify'))[0].status).toBe('ok')
    }
    await check(ROUNDS_BEFORE)

    // a new round appears without a reload
    await page.evaluate(() => { (globalThis as unknown as PageGlobals).marker = 42 })
    await runRound()
    await page.waitForFunction((n) => (globalThis as unknown as PageGlobals).document.querySelectorAll('table[data-table="releases"] tbody tr').length === n, { timeout: 30_000 }, ROUNDS_BEFORE + 1)
    await page.waitForFunction((n) => {
      const doc = (globalThis as unknown as PageGlobals).document
      return doc.body.dataset.rounds === String(n) && Array.from(doc.querySelectorAll('table[data-table="timeline"] td[data-col="outcome"]')).every((td) => td.dataset.value === 'released')
    }, { timeout: 30_000 }, ROUNDS_BEFORE + 1)
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).marker)).toBe(42)
    await check(ROUNDS_BEFORE + 1)

    // a download gives the rows of its table, as CSV
    const cdp = await page.createCDPSession()
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: dir.path })
    await page.click('a[data-download="releases"][data-format="csv"]')
    const file = join(dir.path, 'releases.csv')
    await waitFor(() => existsSync(file), 15_000, 'the releases CSV download')
    const lines = (await readFile(file, 'utf8')).split('\r\n')
    expect(lines[0]).toBe('round,release,parent,accuracy,loss,perplexity,evalExamples,contributions,contributors,signed')
    expect(lines).toHaveLength(ROUNDS_BEFORE + 1 + 2)

    const shot = join(dir.path, 'dashboard.png')
    await page.screenshot({ path: shot, fullPage: true })
    expect((await stat(shot)).size).toBeGreaterThan(20_000)
    console.log(`dashboard screenshot: ${shot}`)
    if (process.env.SWARMTUNE_DASHBOARD_SHOT !== undefined) await copyFile(shot, process.env.SWARMTUNE_DASHBOARD_SHOT)
    expect(problems).toEqual([])
  }, 300_000)
})
