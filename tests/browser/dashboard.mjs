// The dashboard in a real browser: Debian's headless Chromium, driven by npm playwright-core,
// against a running `hashrouter demo`. Run by scripts/browser-test.sh:
//
//   node tests/browser/dashboard.mjs <dashboard URL> <output folder>
//
// Checks that the page loads with no console error and no failed request, that the health
// banner shows, the chart's legend lists the demo's routes and the chart drew points, the
// devices table lists the demo's devices and sorts and filters them through the API, and that
// the allocations table has the demo's buyers. Saves <output folder>/dashboard.png (full page).
// playwright-core is loaded from $HASHROUTER_NPM_DIR (default ~/.cache/hashrouter-npm), where
// scripts/install-browser.sh puts it.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, outDir] = process.argv.slice(2);
if (!url || !outDir) {
  console.error('usage: node tests/browser/dashboard.mjs <dashboard URL> <output folder>');
  process.exit(2);
}
const npmDir = process.env.HASHROUTER_NPM_DIR || join(homedir(), '.cache', 'hashrouter-npm');
const { chromium } = createRequire(join(npmDir, 'node_modules', 'noop.js'))('playwright-core');

const WORKERS = ['demo-farm.rig0', 'demo-farm.rig1', 'demo-farm.rig2', 'demo-farm.rig3', 'demo-farm.sv2-0', 'demo-farm.sv2-1'];
const ROUTES = ['default', 'buyer-a', 'buyer-b'];
// Generous: the chart's history gains a point every 5 s, the page polls every 3 s.
const WAIT_MS = 30_000;
// This machine's network is closed: without these Chromium keeps trying to reach Google.
const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

mkdirSync(outDir, { recursive: true });
const screenshot = join(outDir, 'dashboard.png');
const profile = mkdtempSync(join(tmpdir(), 'hashrouter-chromium-'));
const problems = [];
let passed = 0;
const check = async (name, body) => {
  await body();
  passed++;
  console.log(`ok ${passed} - ${name}`);
};

const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ARGS,
  viewport: { width: 1480, height: 900 },
});
const page = context.pages()[0] || (await context.newPage());
page.on('console', (m) => { if (m.type() === 'error') problems.push(`console error: ${m.text()}`); });
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });

const workers = () => page.$$eval('#devices tbody tr td[data-col="worker"]', (tds) => tds.map((td) => td.textContent));
const hashrates = () => page.$$eval('#devices tbody tr td[data-col="hashrate_hs"]', (tds) => tds.map((td) => Number(td.dataset.value)));
const sortedBy = (values, order) => values.every((v, i) => i === 0 || (order === 'desc' ? values[i - 1] >= v : values[i - 1] <= v));

let failure = null;
try {
  await check('the page loads', async () => {
    const response = await page.goto(url, { waitUntil: 'load' });
    assert.equal(response.status(), 200);
    assert.equal(await page.title(), 'hashrouter');
  });

  await check('the health banner shows the node as ok or degraded', async () => {
    await page.waitForFunction(() => ['ok', 'degraded'].includes(document.querySelector('#health').dataset.status), null, { timeout: WAIT_MS });
    const text = await page.textContent('#health');
    assert.match(text, /components/);
    assert.match(await page.textContent('#updated'), /last updated/);
  });

  await check('the chart legend lists every route and the chart drew points', async () => {
    for (const route of ROUTES) {
      await page.waitForSelector(`#legend [data-route="${route}"]`, { timeout: WAIT_MS });
    }
    await page.waitForFunction(() => Number(document.querySelector('#chart').dataset.points) > 0, null, { timeout: WAIT_MS });
    const legend = await page.$$eval('#legend [data-route]', (items) => items.map((i) => i.textContent));
    assert.deepEqual([...legend].sort(), [...ROUTES].sort());
  });

  await check('the routes table has the three routes', async () => {
    await page.waitForFunction((n) => document.querySelectorAll('#routes tbody tr').length === n, ROUTES.length, { timeout: WAIT_MS });
    const keys = await page.$$eval('#routes tbody tr', (rows) => rows.map((r) => r.dataset.key));
    assert.deepEqual(keys, ROUTES);
  });

  await check("the devices table lists the demo's six devices", async () => {
    await page.waitForFunction((n) => document.querySelectorAll('#devices tbody tr').length === n, WORKERS.length, { timeout: WAIT_MS });
    assert.deepEqual((await workers()).sort(), WORKERS);
    assert.match(await page.textContent('#device-range'), /^1–6 of 6/);
  });

  await check('sorting by hashrate reorders the rows', async () => {
    const header = '#devices th[data-sort="hashrate_hs"]';
    await page.click(header);
    await page.waitForFunction((h) => document.querySelector(h).getAttribute('aria-sort') === 'descending', header);
    await page.waitForFunction(() => {
      const v = [...document.querySelectorAll('#devices tbody td[data-col="hashrate_hs"]')].map((td) => Number(td.dataset.value));
      return v.length === 6 && v.every((x, i) => i === 0 || v[i - 1] >= x);
    }, null, { timeout: WAIT_MS });
    const descending = await workers();
    assert.ok(sortedBy(await hashrates(), 'desc'));
    await page.click(header);
    await page.waitForFunction((h) => document.querySelector(h).getAttribute('aria-sort') === 'ascending', header);
    await page.waitForFunction(() => {
      const v = [...document.querySelectorAll('#devices tbody td[data-col="hashrate_hs"]')].map((td) => Number(td.dataset.value));
      return v.length === 6 && v.every((x, i) => i === 0 || v[i - 1] <= x);
    }, null, { timeout: WAIT_MS });
    const ascending = await workers();
    assert.notDeepEqual(ascending, descending, 'the order did not change');
    assert.deepEqual([...ascending].sort(), WORKERS);
  });

  await check('the filter "rig2" leaves one row', async () => {
    await page.fill('#device-filter', 'rig2');
    await page.waitForFunction(() => document.querySelectorAll('#devices tbody tr').length === 1, null, { timeout: WAIT_MS });
    assert.deepEqual(await workers(), ['demo-farm.rig2']);
    assert.match(await page.textContent('#device-range'), /^1–1 of 1 \(6 connected\)/);
    await page.fill('#device-filter', '');
    await page.waitForFunction((n) => document.querySelectorAll('#devices tbody tr').length === n, WORKERS.length, { timeout: WAIT_MS });
  });

  await check('the allocations table has buyer-a and buyer-b with their delivery', async () => {
    for (const id of ['buyer-a', 'buyer-b']) {
      const row = `#allocations tbody tr[data-key="${id}"]`;
      await page.waitForSelector(row, { timeout: WAIT_MS });
      assert.match(await page.textContent(`${row} td[data-col="delivery"]`), /^(on target|behind|inactive)$/);
    }
  });

  await check('the event log shows the channels opening', async () => {
    await page.waitForSelector('#events tbody tr', { timeout: WAIT_MS });
    assert.match(await page.textContent('#events tbody'), /upstream up/);
  });

  // The picture: devices by hashrate, and a chart with a few points per route (one each 5 s).
  await page.click('#devices th[data-sort="hashrate_hs"]');
  await page.waitForFunction((n) => Number(document.querySelector('#chart').dataset.points) >= n, 5 * ROUTES.length, { timeout: WAIT_MS });
  await page.waitForTimeout(1_000);
  await page.screenshot({ path: screenshot, fullPage: true });
  await check('no console error and no failed request', async () => {
    assert.deepEqual(problems, []);
  });
} catch (error) {
  failure = error;
  await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}

console.log(`screenshot: ${screenshot}`);
if (failure) {
  console.error(`browser test failed: ${failure.stack || failure}`);
  if (problems.length) console.error(`also seen:\n  ${problems.join('\n  ')}`);
  console.log(`browser: ${passed} passed, 1 failed`);
  process.exit(1);
}
console.log(`browser: ${passed} passed, 0 failed`);
