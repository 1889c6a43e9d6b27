/**
 * The model in a real browser: Debian's chromium, driven by playwright-core, loads our page from our server,
 * which serves onnxruntime-web and model.onnx from this package. The same views give the same probability as
 * onnxruntime-node; a real CT slice picked in the page is analysed on the device.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DATA, REPO, requireShared } from './helpers.js';
import { createApp } from '../src/server/app.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import { readAndDecodeGrey } from '../src/data/decode.js';

const MODEL = path.join(REPO, 'models/default');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
let server: ServerType | undefined;
let browser: Browser | undefined;
let page: Page;
let engine: OnnxClassifier;
let url = '';

before(async () => {
  requireShared();
  assert.ok(existsSync(CHROMIUM), `no chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does)`);
  engine = await OnnxClassifier.load(MODEL);
  const app = createApp({ root: REPO, modelDir: MODEL, model: engine.json });
  await new Promise<void>((resolve) => { server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve()); });
  url = `http://127.0.0.1:${(server!.address() as AddressInfo).port}/`;
  browser = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = await browser.newPage();
  const external: string[] = [];
  page.on('request', (r) => { if (!r.url().startsWith(url)) external.push(r.url()); });
  await page.goto(url);
  await page.waitForFunction(() => !document.querySelector('#model')?.textContent?.startsWith('loading'), null, { timeout: 60_000 });
  assert.deepEqual(external, [], 'the page fetches nothing from outside our server');
});

after(async () => {
  await browser?.close();
  server?.close();
  engine?.dispose();
});

test('onnxruntime-web in the browser gives onnxruntime-node probabilities for the same views', async () => {
  const entries = entriesOf(await loadDataset(DATA), 'test');
  const picks = [entries[0], entries[entries.length - 1], entries[50]];
  for (const e of picks) {
    const views = await engine.viewsOf([await readAndDecodeGrey(e.path)]);
    const [node] = await engine.probabilitiesOfViews(views);
    const inBrowser = await page.evaluate(async (arrays: number[][]) => {
      const api = (globalThis as unknown as { covidCt: { probabilityOfViews(v: Float32Array[]): Promise<number> } }).covidCt;
      return api.probabilityOfViews(arrays.map((a) => Float32Array.from(a)));
    }, views.map((v) => Array.from(v)));
    assert.ok(Math.abs(inBrowser - node) < 1e-4, `${e.name}: browser ${inBrowser} vs node ${node}`);
  }
});

test('a CT slice picked in the page is analysed on the device', async () => {
  const e = entriesOf(await loadDataset(DATA), 'test')[3];
  const [node] = await engine.probabilities([await readAndDecodeGrey(e.path)]);
  await page.setInputFiles('#file', e.path);
  await page.waitForFunction(() => document.querySelector('#result')?.getAttribute('data-probability') !== null, null, { timeout: 60_000 });
  const shown = Number(await page.getAttribute('#result', 'data-probability'));
  const text = await page.textContent('#result');
  assert.ok(shown > 0 && shown < 1, `probability shown: ${shown}`);
  assert.match(text ?? '', /P\(COVID\) = 0\.\d{4} -> (COVID|NonCOVID)/);
  // The browser decodes and resizes with its own code, so only closeness is expected here.
  assert.ok(Math.abs(shown - node) < 0.1, `browser pipeline ${shown} vs node ${node}`);
  if (process.env.UPDATE_SCREENSHOTS) { // the README's picture; not rewritten by ordinary test runs
    await mkdir(path.join(REPO, 'docs'), { recursive: true });
    await page.screenshot({ path: path.join(REPO, 'docs/on-device.png') });
  }
  console.log(`# browser pipeline P(COVID) ${shown.toFixed(6)} vs node ${node.toFixed(6)} for ${e.name}`);
});
