/**
 * The web app end to end in a real browser: Debian's chromium, driven by playwright-core, loads the page from
 * our server (which serves onnxruntime-web and model.onnx from this package; nothing from elsewhere). A real
 * test slice and a corrupt file are dropped: the probability shown equals `covid-ct predict`'s, the corrupt
 * file gets its error in words, the heatmap toggles, the CSV downloads; on this device the same slice gets
 * the same number.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Server } from 'node:http';
import { chromium, type Browser, type Page } from 'playwright-core';
import { windowValue } from '../src/data/window.js';
import { segmentLungs } from '../src/data/lungs.js';
import { keptRegion } from '../src/data/lung-view.js';
import { parseCsvRecords } from '../src/data/labelled-set.js';
import { DATA, REPO, colourPng, drawnChest, fitPhantomOod, flatPhantom, huPhantom, lungPhantom, lungsModelVariant, niftiBytes, readCsv, requireShared, runCli, stripedLungsPhantom } from './helpers.js';
import sharp from 'sharp';
import { rm } from 'node:fs/promises';
import { createApp, listen } from '../src/server/app.js';
import { DEFAULT_LIMITS } from '../src/server/api.js';
import { modelCard } from '../src/server/card.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import type { DatasetEntry } from '../src/types.js';
import { zipSync } from 'fflate';
import { gzipSync } from 'node:zlib';
import { ctSlice } from './dicom-writer.js';
import { rotateImage } from '../src/data/tilt.js';

const MODEL = path.join(REPO, 'models/default');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// The README's picture is taken from synthetic phantoms only (never dataset images): UPDATE_SCREENSHOTS=1.
const SHOTS = process.env.UPDATE_SCREENSHOTS ? path.join(REPO, 'docs') : undefined;
let server: Server | undefined;
let browser: Browser | undefined;
let page: Page;
let engine: OnnxClassifier;
let url = '';
let picks: DatasetEntry[];
const external: string[] = [];
// A second server with the shipped lungs-design model (models/default) and its own page.
let lungsServer: Server | undefined;
let lungsEngine: OnnxClassifier | undefined;
let lungsDir = '';
let lungsUrl = '';
// A third: the lungs variant with a not-CT feature distance fitted on phantoms (fitPhantomOod).
let oodServer: Server | undefined;
let oodEngine: OnnxClassifier | undefined;
let oodDir = '';

before(async () => {
  requireShared();
  assert.ok(existsSync(CHROMIUM), `no chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does)`);
  engine = await OnnxClassifier.load(MODEL);
  const app = createApp({ root: REPO, modelDir: MODEL, engine, card: modelCard(engine.json), limits: DEFAULT_LIMITS });
  const bound = await listen(app, { port: 0, hostname: '127.0.0.1' });
  server = bound.server;
  url = `http://127.0.0.1:${bound.port}/`;
  const test = entriesOf(await loadDataset(DATA), 'test');
  // One JPEG and one PNG (by content), so both browser decoders are exercised.
  const kinds = await Promise.all(test.map(async (e) => (await readFile(e.path)).subarray(0, 2).toString('hex')));
  picks = [test[kinds.indexOf('ffd8')], test[kinds.indexOf('8950')]];
  browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  page.on('request', (r) => { if (!r.url().startsWith(url) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) external.push(r.url()); });
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
});

after(async () => {
  await browser?.close();
  server?.close();
  engine?.dispose();
  lungsServer?.close();
  lungsEngine?.dispose();
  if (lungsDir) await rm(lungsDir, { recursive: true, force: true });
  oodServer?.close();
  oodEngine?.dispose();
  if (oodDir) await rm(oodDir, { recursive: true, force: true });
});

async function waitForRows(n: number): Promise<void> {
  await page.waitForFunction((k) => document.querySelectorAll('#results tbody tr').length >= k && !document.body.dataset.busy, n, { timeout: 120_000 });
}

test('the page shows the model card and its intended use, and fetches nothing from outside our server', async () => {
  const cardText = await page.textContent('#model-card');
  assert.match(cardText ?? '', /MobileNetV2/);
  // Issue 12.3: P is said not to be a calibrated probability; the attribution does not promise text that never comes.
  assert.match(cardText ?? '', /not a calibrated probability/);
  assert.doesNotMatch(cardText ?? '', /said below/);
  assert.match(cardText ?? '', /covid-ct trained on top of it/);
  assert.match(cardText ?? '', /not a diagnosis/);
  assert.match(await page.textContent('#mode-status') ?? '', /on the covid-ct server/);
});

test('on the server: dropped slices show predict\'s probability, a corrupt file its error; heatmap toggles; CSV downloads', async () => {
  const cli = await runCli(['predict', ...picks.map((p) => p.path), '--format', 'json', '--quiet']);
  assert.equal(cli.code, 0, cli.stderr);
  const expected = (JSON.parse(cli.stdout) as { predictions: { file: string; probability: number; label: string }[] }).predictions;
  // What the page asks of the API: no heatmaps while they are hidden (they cost most of the server's time).
  const posts: string[] = [];
  const onRequest = (req: { method(): string; url(): string }) => { if (req.method() === 'POST') posts.push(new URL(req.url()).searchParams.get('heatmap') ?? ''); };
  page.on('request', onRequest);
  assert.equal(await page.isChecked('#show-heatmaps'), false);
  await page.setInputFiles('#files', [
    ...await Promise.all(picks.map(async (p) => ({ name: p.name, mimeType: 'application/octet-stream', buffer: await readFile(p.path) }))),
    { name: 'scan.png', mimeType: 'image/png', buffer: Buffer.from('definitely not a PNG') },
  ]);
  await waitForRows(3);
  const shown = await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => ({
    file: (tr as HTMLElement).dataset.file, probability: (tr as HTMLElement).dataset.probability,
    verdict: tr.querySelector('.verdict')?.textContent, text: tr.querySelector('.probability .value')?.textContent,
    tick: tr.querySelector('.tick-label')?.textContent, where: tr.querySelector('.where')?.textContent,
  })));
  picks.forEach((p, i) => {
    assert.equal(shown[i].file, p.name);
    assert.ok(Math.abs(Number(shown[i].probability) - expected[i].probability) < 1e-5, `${p.name}: page ${shown[i].probability} vs predict ${expected[i].probability}`);
    assert.equal(shown[i].text, expected[i].probability.toFixed(4));
    // What the model did, not a diagnosis (issue 12.3): never "no findings".
    assert.equal(shown[i].verdict, expected[i].label === 'COVID' ? 'at or above the model\'s threshold: flagged for COVID-19 review' : 'below the model\'s threshold (not a clinical negative)');
    assert.equal(shown[i].tick, `threshold ${engine.threshold.toFixed(2)}`);
    assert.equal(shown[i].where, `analysed on the server (${new URL(url).host})`);
  });
  assert.match(shown[2].verdict ?? '', /^scan\.png: not a PNG/);
  assert.equal(shown[2].probability, undefined);

  const img = page.locator('#results tbody tr').first().locator('img');
  const before = await img.getAttribute('src');
  assert.deepEqual(posts, ['0'], 'the results were asked for without heatmaps');
  await page.locator('#results tbody tr').first().locator('.heatmap-toggle').check();
  await page.waitForFunction((b) => (document.querySelector('#results tbody tr img') as HTMLImageElement).src !== b, before, { timeout: 60_000 });
  const afterToggle = await img.getAttribute('src');
  assert.ok(before?.startsWith('data:image/png') && afterToggle?.startsWith('data:image/png') && before !== afterToggle, 'the heatmap replaces the slice');
  // The second row's switch uses the maps that request brought: no new request.
  await page.locator('#results tbody tr').nth(1).locator('.heatmap-toggle').check();
  await page.waitForFunction(() => Boolean((window as any).covidCt.rows[1].heatmap), null, { timeout: 60_000 });
  assert.deepEqual(posts, ['0', '1'], 'one request for the batch\'s heatmaps, on the first switch');
  page.off('request', onRequest);

  // The heat colours are explained on the page; a click on a thumbnail shows it large with its heatmap.
  assert.equal(await page.isVisible('#heat-legend'), true);
  assert.match(await page.getAttribute('#heat-legend .heat-bar', 'style') ?? '', /linear-gradient/);
  assert.match(await page.textContent('.p-note') ?? '', /not a calibrated probability/);
  await page.locator('#results tbody tr').nth(1).locator('button.thumb').click();
  assert.equal(await page.isVisible('#viewer'), true);
  const big = await page.evaluate(() => {
    const d = document.querySelector('#viewer')!;
    const im = d.querySelector('img') as HTMLImageElement;
    return { src: im.src, width: im.getBoundingClientRect().width, caption: d.querySelector('.viewer-caption')?.textContent ?? '', title: d.querySelector('h2')?.textContent };
  });
  const row1 = await page.evaluate(() => (window as any).covidCt.rows[1]);
  assert.equal(big.src, row1.heatmap, 'the large view shows the heatmap (with the lung outline) first');
  assert.ok(big.width > 300, `large: ${big.width} px`);
  assert.equal(big.title, picks[1].name);
  assert.match(big.caption, /P\(COVID\) \d\.\d{4}, threshold \d\.\d{4}: .*threshold.*analysed on the server/);
  // The large view carries the same colour legend as the page.
  assert.equal(await page.isVisible('#viewer .heat-legend'), true);
  assert.match(await page.getAttribute('#viewer .heat-legend .heat-bar', 'style') ?? '', /linear-gradient/);
  await page.locator('#viewer-heatmap').uncheck();
  assert.equal(await page.getAttribute('#viewer img', 'src'), row1.thumbnail);
  await page.keyboard.press('Escape');
  assert.equal(await page.isVisible('#viewer'), false);

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
  const csvText = await readFile((await download.path())!, 'utf8');
  // The command line's columns, then the page's own two.
  assert.equal(csvText.split('\n')[0], 'file,probability,label,involvement,pattern,category,refusal,reason,orientation,polarity,tilt,error,series,threshold,mode');
  const csv = readCsv(csvText);
  assert.equal(csv.length, 3);
  assert.equal(csv[0].file, picks[0].name);
  assert.ok(Math.abs(Number(csv[0].probability) - expected[0].probability) < 1e-5);
  assert.equal(csv[2].probability, '');
  assert.match(csv[2].error, /not a PNG/);
  assert.equal(csv[0].mode, 'server');
});

test('on the server: a zipped DICOM series (a README beside it) and a NIfTI volume show their slices and scan scores, labelled on a phone, in the CSV', async () => {
  if (await page.isEnabled('#clear')) await page.click('#clear');
  const zip = zipSync({ 'series/IM0002': ctSlice(2), 'series/IM0001': ctSlice(1), 'series/IM0003': ctSlice(3), 'series/README.TXT': new TextEncoder().encode('exported') });
  await page.setInputFiles('#files', [{ name: 'series.zip', mimeType: 'application/zip', buffer: Buffer.from(zip) }]);
  await waitForRows(3);
  const files = await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.file));
  assert.deepEqual(files, ['series.zip/series/IM0001', 'series.zip/series/IM0002', 'series.zip/series/IM0003']);
  assert.equal(await page.isVisible('#scans'), true);
  assert.equal(await page.textContent('#scans h2'), 'Scans (DICOM series)');
  const scan = await page.$$eval('#scans tbody tr', (trs) => trs.map((tr) => tr.textContent));
  assert.equal(scan.length, 1);
  assert.match(scan[0] ?? '', /top 1 of 3/);
  // A NIfTI volume: its scan is called a volume, and the heading names both kinds.
  const n = 128, one = huPhantom(n), hu = new Int16Array(n * n * 2);
  hu.set(one, 0); hu.set(one, n * n);
  const nii = gzipSync(niftiBytes(n, n, 2, hu, { sform: [[-0.7, 0, 0, 0], [0, -0.7, 0, 0], [0, 0, 5, 0]] }));
  await page.setInputFiles('#files', [{ name: 'ct.nii.gz', mimeType: 'application/gzip', buffer: Buffer.from(nii) }]);
  await waitForRows(5);
  assert.equal(await page.textContent('#scans h2'), 'Scans (DICOM series and NIfTI volumes)');

  // On a phone the header is hidden: every number of a card says what it is.
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    const cards = await page.$$eval('#scans tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => (td as HTMLElement).innerText.replace(/\s+/g, ' ').trim())));
    for (const c of cards) {
      assert.match(c[0], /^scan [0-9a-f]{12}$/);
      assert.match(c[1], /^slices \d+$/);
      assert.match(c[2], /^P\(COVID\) of the scan \d\.\d{4}$/);
      assert.match(c[3], /^lung involvement (\d+\.\d%|not measured)$/);
      assert.match(c[4], /^verdict (COVID|NonCOVID)/);
    }
    const row = await page.$eval('#results tbody tr', (tr) => ({
      p: (tr.querySelector('td.probability') as HTMLElement).innerText.replace(/\s+/g, ' ').trim(),
      inv: (tr.querySelector('td.involvement') as HTMLElement).innerText.replace(/\s+/g, ' ').trim(),
    }));
    assert.match(row.p, /^P\(COVID\) \d\.\d{4} threshold \d\.\d\d$/);
    assert.match(row.inv, /^involvement (\d+\.\d%|not measured)$/);
  } finally {
    await page.setViewportSize({ width: 1280, height: 900 });
  }
  // On a wide screen the header says it: the cells hold the values alone.
  assert.match(await page.$eval('#results tbody tr td.probability', (td) => (td as HTMLElement).innerText.trim()), /^\d\.\d{4}/);
  assert.match(await page.$eval('#scans tbody tr td', (td) => (td as HTMLElement).innerText.trim()), /^[0-9a-f]{12}$/);

  // The CSV: the slices, then a row per scan, series joining them, every row with the header's columns.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
  const text = await readFile((await download.path())!, 'utf8');
  const csv = readCsv(text);
  assert.equal(csv.length, 5 + 2);
  const scansCsv = csv.filter((r) => r.file.startsWith('scan '));
  assert.equal(scansCsv.length, 2);
  for (const s of scansCsv) {
    assert.ok(s.file.startsWith(`scan ${s.series} (mean of top 1 of `), JSON.stringify(s));
    assert.equal(s.mode, 'server');
    assert.equal(csv.filter((r) => !r.file.startsWith('scan ') && r.series === s.series).length, s.file.includes('of 3 slices') ? 3 : 2);
  }
  // every record has as many fields as the header
  const records = parseCsvRecords(text);
  assert.ok(records.every((r) => r.fields.length === records[0].fields.length), text);
});

test('on this device: the same slices get the same numbers, and nothing is uploaded', async () => {
  if (await page.isEnabled('#clear')) await page.click('#clear');
  await page.check('input[name=mode][value=device]');
  assert.match(await page.textContent('#mode-status') ?? '', /on this device.*not uploaded/);
  const cli = await runCli(['predict', ...picks.map((p) => p.path), '--format', 'json', '--quiet']);
  const expected = (JSON.parse(cli.stdout) as { predictions: { probability: number }[] }).predictions;
  const posts: string[] = [];
  page.on('request', (r) => { if (r.method() === 'POST') posts.push(r.url()); });
  // Dropped on the drop zone, as a user would (a real drop event carrying the two files).
  const files = await Promise.all(picks.map(async (p) => ({ name: p.name, b64: (await readFile(p.path)).toString('base64') })));
  const transfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0))], f.name));
    return dt;
  }, files);
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
  await waitForRows(2);
  const shown = await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => Number((tr as HTMLElement).dataset.probability)));
  picks.forEach((p, i) => {
    assert.ok(Math.abs(shown[i] - expected[i].probability) < 1e-4, `${p.name}: on device ${shown[i]} vs server ${expected[i].probability}`);
  });
  assert.deepEqual(posts, [], 'nothing was posted in device mode');
  const where = await page.$$eval('#results tbody tr .where', (els) => els.map((e) => e.textContent));
  assert.deepEqual(where, ['analysed on this device', 'analysed on this device']);
  assert.deepEqual(external, [], 'the page fetches nothing from outside our server');
  console.log(`# on device vs server: ${picks.map((p, i) => `${p.name}: ${shown[i].toFixed(6)} / ${expected[i].probability.toFixed(6)}`).join('; ')}`);
});

// ---- the lungs reading on the page (synthetic phantoms only: these may be screenshotted into docs/) ----------

const phantomPng = async (img: { width: number; height: number; data: Uint8Array }) =>
  sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer();

async function lungsPage(): Promise<Page> {
  if (!lungsServer) {
    // The shipped default is the lungs design; it is served from its own folder (never deleted by this test).
    const dir = path.join(REPO, 'models/default');
    lungsEngine = await OnnxClassifier.load(dir);
    const app = createApp({ root: REPO, modelDir: dir, engine: lungsEngine, card: modelCard(lungsEngine.json), limits: DEFAULT_LIMITS });
    const bound = await listen(app, { port: 0, hostname: '127.0.0.1' });
    lungsServer = bound.server;
    lungsUrl = `http://127.0.0.1:${bound.port}/`;
  }
  const p = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
  await p.goto(lungsUrl);
  await p.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
  return p;
}

async function lungsFiles() {
  return [
    { name: 'phantom-ground-glass.png', mimeType: 'image/png', buffer: await phantomPng(lungPhantom(384, true)) },
    { name: 'phantom-clear-lungs.png', mimeType: 'image/png', buffer: await phantomPng(lungPhantom(384, false)) },
    { name: 'blank.png', mimeType: 'image/png', buffer: await phantomPng({ width: 200, height: 200, data: new Uint8Array(200 * 200).fill(255) }) },
  ];
}

const rowsOf = (p: Page) => p.$$eval('#results tbody tr', (trs) => trs.map((tr) => ({
  file: (tr as HTMLElement).dataset.file, probability: Number((tr as HTMLElement).dataset.probability),
  verdict: tr.querySelector('.verdict')?.textContent ?? '', text: tr.textContent ?? '',
  bar: tr.querySelector('.involvement-bar')?.getAttribute('aria-valuenow') ?? null, category: tr.querySelector('.category')?.textContent ?? null,
})));

test('lungs model on the server: involvement bar, pattern and category per CT row; "no lungs found" with no verdict for a blank image', async () => {
  const p = await lungsPage();
  try {
    await p.setInputFiles('#files', await lungsFiles());
    await p.waitForFunction(() => document.querySelectorAll('#results tbody tr').length >= 3 && !document.body.dataset.busy, null, { timeout: 120_000 });
    const shown = await rowsOf(p);
    assert.ok(shown[0].bar !== null && Number(shown[0].bar) > 0.03, `an involvement bar for the CT row: ${JSON.stringify(shown[0])}`);
    assert.match(shown[0].text, /\d+\.\d% ?/);
    assert.match(shown[0].text, /pattern \d\.\d{3}/);
    assert.ok(shown[0].category && /typical|indeterminate|atypical|negative for pneumonia/.test(shown[0].category));
    assert.equal(shown[1].category, 'negative for pneumonia');
    assert.match(shown[2].verdict, /^no lungs found \(/);
    assert.doesNotMatch(shown[2].text, /COVID|NonCOVID/);
    assert.equal(shown[2].bar, null);
    assert.equal(await p.locator('#results tbody tr').nth(2).locator('.heatmap-toggle').count(), 0, 'no heatmap for a NotCT slice');
    await p.check('#show-heatmaps');
    // A phone (390 x 844): the results become stacked cards; nothing scrolls sideways, the controls stay on screen.
    await p.setViewportSize({ width: 390, height: 844 });
    assert.ok(await p.evaluate(() => document.documentElement.scrollWidth) <= 390, 'horizontal scrolling at 390 px');
    for (const sel of ['#clear', '#show-heatmaps', '#results tbody tr:first-child .category']) {
      const box = await p.locator(sel).first().boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${sel} off-screen at 390 px: ${JSON.stringify(box)}`);
    }
    if (SHOTS) await p.screenshot({ path: path.join(REPO, 'docs', 'web-app-phone.png'), fullPage: true });
    await p.setViewportSize({ width: 1280, height: 900 });
    // A desktop: the table fits its column (nothing cut off or scrolled), the heatmap switch under each thumbnail, and a
    // refusal is one paragraph across the involvement, pattern and verdict columns with its heading in bold.
    const fit = await p.evaluate(() => {
      const wrap = document.querySelector('.table-wrap')!;
      const refusal = document.querySelectorAll<HTMLTableCellElement>('#results tbody tr')[2].querySelector<HTMLTableCellElement>('td.verdict')!;
      return { scroll: wrap.scrollWidth, client: wrap.clientWidth, span: refusal.colSpan, heading: refusal.querySelector('strong')?.textContent, cells: refusal.parentElement!.children.length };
    });
    assert.ok(fit.scroll <= fit.client, `the results table is wider than its column at 1280 px: ${JSON.stringify(fit)}`);
    assert.deepEqual([fit.span, fit.heading, fit.cells], [3, 'no lungs found', 4]);
    const toggle = await p.locator('#results tbody tr').first().locator('.heatmap-toggle').boundingBox();
    const thumb = await p.locator('#results tbody tr').first().locator('img').boundingBox();
    assert.ok(toggle && thumb && toggle.y > thumb.y + thumb.height - 1 && toggle.x < thumb.x + thumb.width, 'the heatmap switch sits under its thumbnail');
    if (SHOTS || process.env.LUNGS_SHOT) {
      await mkdir(path.join(REPO, 'docs'), { recursive: true });
      await p.screenshot({ path: process.env.LUNGS_SHOT ?? path.join(REPO, 'docs', 'web-app-lungs.png'), fullPage: true });
    }
  } finally {
    await p.close();
  }
});

/** The rows of `files` analysed on the server, then (after Clear) on this device. */
async function serverThenDevice(p: Page, files: { name: string; mimeType: string; buffer: Buffer }[]) {
  const run = async () => {
    await p.setInputFiles('#files', files);
    await p.waitForFunction((k) => document.querySelectorAll('#results tbody tr').length >= k && !document.body.dataset.busy, files.length, { timeout: 120_000 });
    return rowsOf(p);
  };
  const server = await run();
  await p.click('#clear');
  await p.check('input[name=mode][value=device]');
  return { server, device: await run() };
}

test('lungs model on this device: the same views and the same P as the server (within 1e-5), the same NotCT', async () => {
  const files = await lungsFiles();
  const p = await lungsPage();
  try {
    const { server, device } = await serverThenDevice(p, files);
    device.forEach((d, i) => {
      assert.ok(Math.abs(d.probability - server[i].probability) < 1e-5, `${d.file}: device ${d.probability} vs server ${server[i].probability}`);
      assert.equal(d.verdict, server[i].verdict);
      assert.equal(d.bar, server[i].bar);
    });
    console.log(`# lungs model, device vs server: ${device.map((d, i) => `${d.file}: ${d.probability.toFixed(6)} / ${server[i].probability.toFixed(6)}`).join('; ')}`);
  } finally {
    await p.close();
  }
});

test('a slice that came upside down is read upright and the row says so, on the server and on this device alike', async () => {
  const up = drawnChest();
  const flipped = { ...up, data: new Uint8Array(up.data.length) };
  for (let y = 0; y < up.height; y++) flipped.data.set(up.data.subarray(y * up.width, (y + 1) * up.width), (up.height - 1 - y) * up.width);
  const files = [
    { name: 'chest-upright.png', mimeType: 'image/png', buffer: await phantomPng(up) },
    { name: 'chest-upside-down.png', mimeType: 'image/png', buffer: await phantomPng(flipped) },
  ];
  const p = await lungsPage();
  try {
    const { server, device } = await serverThenDevice(p, files);
    for (const rows of [server, device]) {
      assert.doesNotMatch(rows[0].text, /read upright/);
      assert.match(rows[1].text, /it came upside down and was read upright/);
      assert.equal(rows[1].probability, rows[0].probability, 'read as the upright slice');
    }
  } finally {
    await p.close();
  }
});

test('a slice that came tilted by 20 degrees is read level and the row says so, on the server and on this device alike', async () => {
  const level = drawnChest();
  const files = [
    { name: 'chest-level.png', mimeType: 'image/png', buffer: await phantomPng(level) },
    { name: 'chest-tilted.png', mimeType: 'image/png', buffer: await phantomPng(rotateImage(level, 20, 0)) },
  ];
  const p = await lungsPage();
  try {
    const { server, device } = await serverThenDevice(p, files);
    for (const rows of [server, device]) {
      assert.doesNotMatch(rows[0].text, /tilted/);
      assert.match(rows[1].text, /it came tilted by 20 degrees clockwise and was read level/);
    }
    // The page reads the tilted slice with the server's code (the same turn, lungs and views): the same P (within
    // 1e-5, as every slice on the device).
    assert.ok(Math.abs(device[1].probability - server[1].probability) < 1e-5, `device ${device[1].probability} vs server ${server[1].probability}`);
  } finally {
    await p.close();
  }
});

test('a slice sent as a negative (air white) is read with air black and the row says so, on the server and on this device alike', async () => {
  const c = drawnChest();
  const files = [
    { name: 'chest.png', mimeType: 'image/png', buffer: await phantomPng(c) },
    { name: 'chest-negative.png', mimeType: 'image/png', buffer: await phantomPng({ ...c, data: c.data.map((v) => 255 - v) }) },
  ];
  const p = await lungsPage();
  try {
    const { server, device } = await serverThenDevice(p, files);
    for (const rows of [server, device]) {
      assert.doesNotMatch(rows[0].text, /as a negative/);
      assert.match(rows[1].text, /it came as a negative, air white and bone black, and was read with air black/);
      assert.equal(rows[1].probability, rows[0].probability, 'read as the slice with air black');
    }
  } finally {
    await p.close();
  }
});

test('a chest drawn in flat greys or painted in colours: "not a chest CT slice"; in a soft-tissue window: "lungs not readable in this window"; with reasons, on the server and on this device alike', async () => {
  const files = [
    { name: 'phantom-ground-glass.png', mimeType: 'image/png', buffer: await phantomPng(lungPhantom(384, true)) },
    { name: 'flat-drawing.png', mimeType: 'image/png', buffer: await phantomPng(flatPhantom(384)) },
    { name: 'phantom-in-colours.png', mimeType: 'image/png', buffer: await colourPng(lungPhantom(384, true), 'hues') },
    { name: 'phantom-warm-cast.png', mimeType: 'image/png', buffer: await colourPng(lungPhantom(384, true), 'cast') },
    // The HU phantom through a soft-tissue window (level 40, width 400): black lungs, mid-grey tissue.
    { name: 'soft-tissue-window.png', mimeType: 'image/png', buffer: await phantomPng({ width: 256, height: 256, data: Uint8Array.from(huPhantom(256), (v) => windowValue(v, { width: 400, level: 40 })) }) },
  ];
  const p = await lungsPage();
  try {
    const { server, device } = await serverThenDevice(p, files);
    assert.doesNotMatch(server[0].verdict, /not a chest CT/);
    assert.match(server[1].verdict, /^not a chest CT slice/);
    assert.match(server[1].text, /one exact grey/);
    assert.match(server[2].verdict, /^not a chest CT slice/);
    assert.match(server[2].text, /a colour picture/);
    assert.doesNotMatch(server[3].verdict, /not a chest CT/, 'a colour cast leaves a grey slice a CT slice');
    assert.match(server[4].verdict, /^lungs not readable in this window/, 'a chest CT slice in the wrong window is not "not a chest CT"');
    assert.match(server[4].text, /soft-tissue \(mediastinal\) window/);
    device.forEach((d, i) => {
      assert.equal(d.verdict, server[i].verdict, d.file);
      // Grey pictures decode to the same grey on both; the browser's luminance of coloured pixels can differ from
      // libvips' by a grey level, so the colour pictures' raw P is only close.
      const tolerance = i === 2 || i === 3 ? 0.02 : 1e-5;
      assert.ok(Math.abs(d.probability - server[i].probability) < tolerance, `${d.file}: device ${d.probability} vs server ${server[i].probability}`);
    });
    console.log(`# colour pictures, device vs server P: ${device.slice(2).map((d, i) => `${d.file}: ${d.probability.toFixed(4)} / ${server[i + 2].probability.toFixed(4)}`).join('; ')}`);
  } finally {
    await p.close();
  }
});

test('lungs cut out onto black with no rim, also at 128 px: read on the server and on this device alike; flat shapes on black refused alike', async () => {
  // The phantom cut to its own lung mask (a pre-segmented set's slice), and two flat grey ellipses on black (an icon).
  const whole = lungPhantom(256, true);
  const keep = keptRegion(segmentLungs(whole), 256, 256, 0);
  const cut = { ...whole, data: whole.data.map((v, i) => (keep[i] ? v : 0)) };
  const blobs = { width: 256, height: 256, data: new Uint8Array(256 * 256) };
  for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) if (((x - 80) / 40) ** 2 + ((y - 128) / 60) ** 2 <= 1 || ((x - 176) / 40) ** 2 + ((y - 128) / 60) ** 2 <= 1) blobs.data[y * 256 + x] = 120;
  // The same cut-out halved to 128 px: its blur read inside the lungs, its view cut from the analysis
  // image, its anchors without the cut's dark edge (interior-blur.ts, lung-view.ts, involvement.ts), on both sides.
  const small = await sharp(await phantomPng(cut)).resize(128, 128, { kernel: 'lanczos3' }).png().toBuffer();
  const files = [
    { name: 'lungs-on-black.png', mimeType: 'image/png', buffer: await phantomPng(cut) },
    { name: 'blobs-on-black.png', mimeType: 'image/png', buffer: await phantomPng(blobs) },
    { name: 'lungs-on-black-128.png', mimeType: 'image/png', buffer: small },
  ];
  const p = await lungsPage();
  try {
    const { server, device } = await serverThenDevice(p, files);
    assert.doesNotMatch(server[0].verdict, /not a chest CT|no lungs/, server[0].text);
    assert.doesNotMatch(server[2].verdict, /not a chest CT|no lungs/, server[2].text);
    assert.match(server[1].verdict, /^not a chest CT slice/);
    assert.match(server[1].text, /no image noise/);
    device.forEach((d, i) => {
      assert.equal(d.verdict, server[i].verdict, d.file);
      assert.ok(Math.abs(d.probability - server[i].probability) < 1e-5, `${d.file}: device ${d.probability} vs server ${server[i].probability}`);
    });
  } finally {
    await p.close();
  }
});

test('a 16-bit PNG of CT numbers (HU + 1024): read in HU on the server and on this device alike, not refused', async () => {
  const hu = huPhantom(256);
  const ctNumbers = await sharp(Uint16Array.from(hu, (v) => v + 1024), { raw: { width: 256, height: 256, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  const p = await lungsPage();
  try {
    const { server, device } = await serverThenDevice(p, [{ name: 'ct-numbers-16bit.png', mimeType: 'image/png', buffer: ctNumbers }]);
    assert.doesNotMatch(server[0].verdict, /not a chest CT/, server[0].text);
    assert.ok(Number(server[0].bar) > 0, `involvement measured: ${server[0].bar}`);
    assert.equal(device[0].verdict, server[0].verdict);
    assert.equal(device[0].bar, server[0].bar);
    assert.ok(Math.abs(device[0].probability - server[0].probability) < 1e-5, `device ${device[0].probability} vs server ${server[0].probability}`);
  } finally {
    await p.close();
  }
});

test('feature distance on this device: the same verdicts as the server, striped lungs NotCT for their distance', async () => {
  oodDir = await lungsModelVariant();
  await fitPhantomOod(oodDir);
  oodEngine = await OnnxClassifier.load(oodDir);
  const app = createApp({ root: REPO, modelDir: oodDir, engine: oodEngine, card: modelCard(oodEngine.json), limits: DEFAULT_LIMITS });
  const bound = await listen(app, { port: 0, hostname: '127.0.0.1' });
  oodServer = bound.server;
  const files = [
    { name: 'phantom-ground-glass.png', mimeType: 'image/png', buffer: await phantomPng(lungPhantom(384, true)) },
    { name: 'striped-lungs.png', mimeType: 'image/png', buffer: await phantomPng(stripedLungsPhantom(384)) },
  ];
  const p = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await p.goto(`http://127.0.0.1:${bound.port}/`);
    await p.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
    const { server, device } = await serverThenDevice(p, files);
    assert.doesNotMatch(server[0].verdict, /not a chest CT/);
    assert.match(server[1].verdict, /^not a chest CT slice/);
    assert.match(server[1].text, /feature distance/);
    device.forEach((d, i) => {
      assert.equal(d.verdict, server[i].verdict, d.file);
      assert.ok(Math.abs(d.probability - server[i].probability) < 1e-5, `${d.file}: device ${d.probability} vs server ${server[i].probability}`);
    });
    assert.match(device[1].text, /feature distance/);
  } finally {
    await p.close();
  }
});

test('lungs model: the heatmap made on this device is the server\'s (the same occlusion map)', async () => {
  const img = lungPhantom(384, true);
  const files = [{ name: 'phantom-ground-glass.png', mimeType: 'image/png', buffer: await phantomPng(img) }];
  const p = await lungsPage();
  try {
    await p.check('#show-heatmaps');
    const heatmap = async () => {
      await p.setInputFiles('#files', files);
      await p.waitForFunction(() => document.querySelectorAll('#results tbody tr').length >= 1 && !document.body.dataset.busy, null, { timeout: 120_000 });
      const src = await p.$eval('#results tbody tr img', (el) => (el as HTMLImageElement).src);
      assert.ok(src.startsWith('data:image/png;base64,'));
      return sharp(Buffer.from(src.slice(src.indexOf(',') + 1), 'base64')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    };
    const server = await heatmap();
    await p.click('#clear');
    await p.check('input[name=mode][value=device]');
    const device = await heatmap();
    assert.equal(device.info.width, 384);
    assert.equal(server.info.width, 384);
    // The page asks the server for no legend strip (it shows its legend beside the picture): the same size and pixels.
    assert.deepEqual([device.info.height, server.info.height], [384, 384], 'no legend in the page\'s pictures');
    let worst = 0;
    for (let y = 0; y < 384; y++) for (let x = 0; x < 384; x++) {
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(server.data[(y * 384 + x) * 3 + c] - device.data[(y * 384 + x) * 3 + c]));
    }
    assert.ok(worst <= 2, `device and server heatmaps differ by up to ${worst} grey levels`);
    // With heatmaps hidden the device makes the map only when asked (a row's toggle): the same picture.
    const eager = await p.$eval('#results tbody tr img', (el) => (el as HTMLImageElement).src);
    await p.click('#clear');
    await p.uncheck('#show-heatmaps');
    await p.setInputFiles('#files', files);
    await p.waitForFunction(() => document.querySelectorAll('#results tbody tr').length >= 1 && !document.body.dataset.busy, null, { timeout: 120_000 });
    const thumb = await p.$eval('#results tbody tr img', (el) => (el as HTMLImageElement).src);
    assert.notEqual(thumb, eager, 'the slice is shown, not its heatmap');
    await p.locator('#results tbody tr').first().locator('.heatmap-toggle').check();
    await p.waitForFunction((t) => (document.querySelector('#results tbody tr img') as HTMLImageElement).src !== t, thumb, { timeout: 60_000 });
    assert.equal(await p.$eval('#results tbody tr img', (el) => (el as HTMLImageElement).src), eager, 'made on request, the same heatmap');
  } finally {
    await p.close();
  }
});

test('a server with a token: the page asks for it once (a wrong one again), keeps it for the tab and sends it', async () => {
  const token = 'page-token-0123456789abcdef';
  const app = createApp({ root: REPO, modelDir: MODEL, engine, card: modelCard(engine.json), limits: DEFAULT_LIMITS, security: { token } });
  const bound = await listen(app, { port: 0, hostname: '127.0.0.1' });
  const p = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    await p.goto(`http://127.0.0.1:${bound.port}/`);
    await p.waitForSelector('#token-form:not([hidden])', { timeout: 30_000 });
    assert.equal(await p.evaluate(() => document.body.dataset.ready), undefined, 'no model card without the token');
    await p.fill('#token', 'not-the-token');
    await p.click('#token-form button');
    await p.waitForFunction(() => /not accepted/.test(document.querySelector('#token-status')!.textContent ?? ''), null, { timeout: 30_000 });
    await p.fill('#token', token);
    await p.click('#token-form button');
    await p.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
    assert.equal(await p.isHidden('#token-form'), true);
    assert.equal(await p.evaluate(() => sessionStorage.getItem('covid-ct-token')), token);
    await p.setInputFiles('#files', [{ name: 'IM0001', mimeType: 'application/dicom', buffer: Buffer.from(ctSlice(1)) }]);
    await p.waitForFunction(() => document.querySelectorAll('#results tbody tr').length >= 1 && !document.body.dataset.busy, null, { timeout: 120_000 });
    const row = await p.textContent('#results tbody tr');
    assert.match(row ?? '', /\d\.\d/, `scored: ${row}`);
    // Asked once: a reload in the same tab goes straight to the page.
    await p.reload();
    await p.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
    assert.equal(await p.isHidden('#token-form'), true);
  } finally {
    await p.close();
    bound.server.close();
  }
});
