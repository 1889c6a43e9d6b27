/**
 * A picture in a soft-tissue window (src/data/window-check.ts): its lungs are clipped to black, so neither ground
 * glass nor the lung itself can be read. The HU phantom rendered through a lung window, a narrow lung window and a
 * soft-tissue window: only the last is refused, with a reason naming the window to use. Then real slices: CT-MD
 * slices as they are pass, and the same slices through a soft-tissue window are refused, as is a COVID-CT slice
 * exported in one; through the shipped default they are NotCT with that reason and keep their raw P.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { decodeGrey } from '../src/data/decode.js';
import { findLungs } from '../src/data/involvement.js';
import { segmentLungs } from '../src/data/lungs.js';
import { checkWindow, WINDOW_LIMITS } from '../src/data/window-check.js';
import { huOfWindow, windowValue } from '../src/data/window.js';
import { loadEngine } from '../src/model/load-engine.js';
import { scoreFiles } from '../src/predict/score-files.js';
import type { GreyImage } from '../src/types.js';
import { DATA, REPO, huPhantom, requireShared } from './helpers.js';

const SIDE = 256;
/** 8-bit grey of HU values through a display window (width, level), as a viewer or an export does. */
function throughWindow(hu: ArrayLike<number>, width: number, level: number, side = SIDE): GreyImage {
  return { width: side, height: side, data: Uint8Array.from(hu, (v) => windowValue(v, { width, level })) };
}

test('the HU phantom: refused in a soft-tissue window only, not in a lung window or a narrow lung window', () => {
  const hu = huPhantom(SIDE);
  const lung = throughWindow(hu, 1500, -600);
  // Floor at -850 HU: more than half of the phantom's aerated lung (-850 +- 48) is clipped, but soft tissue is white.
  const narrow = throughWindow(hu, 700, -500);
  const soft = throughWindow(hu, 400, 40);
  for (const [name, img] of [['lung', lung], ['narrow', narrow], ['soft', soft]] as const) {
    assert.ok(segmentLungs(img).found, `${name}: the lungs are found, so the window check is what decides`);
  }
  const l = checkWindow(segmentLungs(lung));
  assert.equal(l.refusal, undefined);
  assert.ok(l.figures.lungAtFloor < 0.05 && l.figures.tissueLevel > 0.85, JSON.stringify(l.figures));
  assert.ok(findLungs(lung).findings.found);

  const n = checkWindow(segmentLungs(narrow));
  assert.ok(n.figures.lungAtFloor > WINDOW_LIMITS.maxLungAtFloor, `narrow window: most lung at black (${n.figures.lungAtFloor})`);
  assert.ok(n.figures.tissueLevel > 0.95, `narrow window: tissue clipped white (${n.figures.tissueLevel})`);
  assert.equal(n.refusal, undefined, 'lung at black alone is not a soft-tissue window');
  assert.ok(findLungs(narrow).findings.found);

  const s = checkWindow(segmentLungs(soft));
  assert.ok(s.figures.lungAtFloor > 0.9 && s.figures.tissueLevel < 0.6, JSON.stringify(s.figures));
  assert.match(s.refusal ?? '', /soft-tissue \(mediastinal\) window/);
  const f = findLungs(soft).findings;
  assert.equal(f.found, false);
  assert.equal(f.refusal, 'window', 'a chest CT slice in the wrong window, not "not CT"');
  assert.match(f.reason ?? '', /^the lungs are black \(\d+% of them at the picture's darkest grey\).*lung window \(such as level -600, width 1500 HU\)$/);
});

test('a picture in HU (a DICOM) is left to the DICOM window check; nothing to measure never refuses', () => {
  const hu = huPhantom(SIDE);
  // The same soft-tissue picture, told its HU mapping: lungs.ts refuses the DICOM window before segmenting.
  const soft = { ...throughWindow(hu, 400, 40), hu: { slope: 400 / 255, intercept: -160 } };
  const f = findLungs(soft).findings;
  assert.equal(f.found, false);
  assert.match(f.reason ?? '', /DICOM window/);
  const flat = checkWindow(segmentLungs({ width: 64, height: 64, data: new Uint8Array(64 * 64).fill(90) }));
  assert.ok(Number.isNaN(flat.figures.lungAtFloor));
  assert.equal(flat.refusal, undefined);
});

test('real slices: CT-MD in its lung window passes, the same through a soft-tissue window is NotCT with its reason', async () => {
  requireShared();
  const md = path.resolve(REPO, '../shared/data/covid-ct-md-sample/images');
  const names = ['P001_073.png', 'normal002_080.png', 'cap001_080.png'];
  const dir = await mkdtemp(path.join(tmpdir(), 'covid-ct-window-'));
  const engine = await loadEngine(path.join(REPO, 'models/default'), 'onnx');
  try {
    const files: string[] = [];
    for (const name of names) {
      const img = await decodeGrey(new Uint8Array(await readFile(path.join(md, name))));
      // CT-MD's PNGs are in a lung window, level -600 / width 1500 HU: back to HU, then level 40 / width 400.
      const hu = huOfWindow({ width: 1500, level: -600 });
      const soft = img.data.map((v) => windowValue(hu.slope * v + hu.intercept, { width: 400, level: 40 }));
      const file = path.join(dir, `soft-${name}`);
      await writeFile(file, await sharp(Buffer.from(soft), { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer());
      files.push(path.join(md, name), file);
    }
    // A COVID-CT non-COVID slice exported in a soft-tissue window (looked at: black lungs, mid-grey heart and muscle).
    files.push(path.join(DATA, 'images/CT_NonCOVID/1060.png'));
    const preds = await scoreFiles(engine, files);
    for (let i = 0; i < names.length; i++) {
      const [asIs, soft] = [preds[2 * i], preds[2 * i + 1]];
      assert.notEqual(asIs.label, 'NotCT', `${names[i]}: ${asIs.reason}`);
      assert.equal(soft.label, 'NotCT', `soft-tissue ${names[i]}`);
      assert.match(soft.reason ?? '', /soft-tissue \(mediastinal\) window/);
      assert.equal(soft.refusal, 'window');
      assert.equal(typeof soft.probability, 'number', 'the raw P is kept for research');
    }
    const covidCt = preds[preds.length - 1];
    assert.equal(covidCt.label, 'NotCT');
    assert.match(covidCt.reason ?? '', /soft-tissue \(mediastinal\) window/);
    assert.equal(covidCt.refusal, 'window');
  } finally {
    engine.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
