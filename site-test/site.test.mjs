// The compatibility site in a real browser: Debian's headless Chromium,
// driven by playwright-core, on the site that `grpc-conformance report
// merge` generated into $SITE_DIR (scripts/site-test.sh makes it). Checks
// what a reader relies on: the summary numbers are matrix.json's, a failed
// cell's link lands on its evidence, the filters hide the other rows, the
// reason shows on keyboard focus, and a phone's width needs no sideways
// scrolling of the page. Screenshots go to $SHOTS_DIR.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const site = resolve(process.env.SITE_DIR ?? '../reports');
const shots = resolve(process.env.SHOTS_DIR ?? '../target/site-test');
const matrix = JSON.parse(readFileSync(join(site, 'matrix.json'), 'utf8'));
const index = pathToFileURL(join(site, 'index.html')).href;

let browser;
let page;
// Script errors on any page, checked after each test.
const errors = [];

before(async () => {
  mkdirSync(shots, { recursive: true });
  // The flags keep Chromium off the network (this machine's is closed) and
  // out of any profile but a fresh one.
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (err) => errors.push(err.message));
});

afterEach(() => {
  assert.deepEqual(errors.splice(0), [], 'a page threw');
});

after(async () => {
  await browser?.close();
});

async function open() {
  await page.goto(index);
  await page.waitForSelector('#filters:not([hidden])');
}

test('the summary numbers are those of matrix.json', async () => {
  await open();
  assert.equal(matrix.schema, 'grpc-conformance/matrix/v1');
  const rows = await page.locator('table.implementations tbody tr').count();
  assert.equal(rows, matrix.targets.length, 'one summary row per implementation');
  for (const [index, target] of matrix.targets.entries()) {
    // By position: a client library may share its server's name (grpc-go).
    const row = page.locator(`table.implementations tr[data-t="${index}"]`);
    assert.equal(await row.locator('th a').innerText(), target.name, `row ${index}`);
    for (const verdict of ['pass', 'fail', 'skip', 'error']) {
      const shown = await row.locator(`td[data-count="${verdict}"]`).innerText();
      assert.equal(Number(shown), target.totals[verdict], `${target.name} ${verdict}`);
    }
    for (const [area, counts] of Object.entries(target.areas)) {
      const shown = await row.locator(`td[data-area="${area}"]`).innerText();
      const applied = counts.pass + counts.fail + counts.error;
      assert.ok(shown.startsWith(`${counts.pass}/${applied}`), `${target.name} ${area}: ${shown}`);
    }
  }
  for (const area of ['channel', 'stream', 'handler']) {
    const kept = matrix.targets.filter((t) => (t.areas[area] ?? { fail: 0, error: 0 }).fail + (t.areas[area] ?? { error: 0 }).error === 0).length;
    const shown = await page.locator(`tr[data-promise="${area}"] td[data-count="kept"]`).innerText();
    assert.equal(shown, `${kept} of ${matrix.targets.length}`, `promise ${area}`);
  }
  await page.screenshot({ path: join(shots, 'site-desktop.png'), fullPage: true });
});

function firstFailure() {
  for (const [column, target] of matrix.targets.entries()) {
    for (const [id, cell] of Object.entries(target.cells)) {
      if (cell.verdict === 'fail') return { column, target, id, cell };
    }
  }
  return undefined;
}

test("a failed cell's link lands on its evidence", async () => {
  const failure = firstFailure();
  assert.ok(failure, 'the site has a failed cell to follow');
  await open();
  const link = page.locator(`#matrix tr[data-id="${failure.id}"] td`).nth(failure.column).locator('a');
  assert.match(await link.innerText(), /FAIL/);
  await link.click();
  await page.waitForLoadState('load');
  const url = new URL(page.url());
  assert.ok(url.pathname.endsWith(`/${failure.target.folder}/report.html`), url.pathname);
  assert.equal(decodeURIComponent(url.hash.slice(1)), failure.cell.anchor ?? failure.id);
  const entry = page.locator(`details[id="${failure.cell.anchor ?? failure.id}"]`);
  assert.equal(await entry.evaluate((node) => node.open), true, 'the entry is open');
  assert.ok(await entry.locator('.evidence li').first().isVisible(), 'its evidence is visible');
  if (failure.cell.reason) {
    assert.ok((await entry.locator('.reason').innerText()).includes(failure.cell.reason));
  }
  assert.ok(await entry.locator('code.repro').isVisible(), 'its reproduction command is visible');
});

test('filtering by promise, scenario id, failures and implementation hides the others', async () => {
  await open();
  const rows = page.locator('#matrix tr[data-id]');
  await page.selectOption('select[name="area"]', 'stream');
  const streams = matrix.scenarios.filter((s) => s.area === 'stream').length;
  assert.equal(await page.locator('#matrix tr[data-id]:visible').count(), streams);
  assert.equal(await page.locator('#matrix tr[data-id]:not([data-area="stream"]):visible').count(), 0);
  await page.selectOption('select[name="area"]', '');
  await page.fill('input[name="q"]', 'rendezvous');
  const matching = matrix.scenarios.filter((s) => s.id.includes('rendezvous')).length;
  assert.ok(matching > 0 && matching < (await rows.count()));
  assert.equal(await page.locator('#matrix tr[data-id]:visible').count(), matching);
  const areas = new Set(matrix.scenarios.filter((s) => s.id.includes('rendezvous')).map((s) => s.area));
  assert.equal(await page.locator('#matrix tr.group:visible').count(), areas.size, 'promises with no row left hide their heading');
  await page.fill('input[name="q"]', '');
  await page.check('input[name="broken"]');
  const broken = matrix.scenarios.filter((s) => matrix.targets.some((t) => ['fail', 'error'].includes(t.cells[s.id]?.verdict))).length;
  assert.ok(broken > 0);
  assert.equal(await page.locator('#matrix tr[data-id]:visible').count(), broken, 'only scenarios some implementation failed');
  await page.uncheck('input[name="broken"]');
  await page.fill('input[name="q"]', 'rendezvous');
  await page.selectOption('select[name="impl"]', '1');
  const header = page.locator('#matrix thead th');
  assert.equal(await page.locator('#matrix thead th:visible').count(), 2, 'the scenario column and one implementation');
  assert.equal(await header.nth(2).innerText(), matrix.targets[1].name);
  assert.equal(await page.locator('table.implementations tbody tr:visible').count(), 1);
  await page.screenshot({ path: join(shots, 'site-filtered.png'), fullPage: true });
});

test('the reason shows on keyboard focus, and a phone needs no sideways page scroll', async () => {
  const failure = firstFailure();
  await page.setViewportSize({ width: 390, height: 844 });
  await open();
  const cell = page.locator(`#matrix tr[data-id="${failure.id}"] td`).nth(failure.column);
  const tip = cell.locator('.tip');
  assert.equal(await tip.isVisible(), false);
  await cell.locator('a').focus();
  await page.keyboard.press('Shift+Tab');
  await page.keyboard.press('Tab');
  assert.ok(await tip.isVisible(), 'the reason shows when the cell has focus');
  if (failure.cell.reason) assert.ok((await tip.innerText()).includes(failure.cell.reason));
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await page.screenshot({ path: join(shots, 'site-phone.png'), fullPage: false });
});
