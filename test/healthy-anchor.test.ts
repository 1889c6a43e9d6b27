/** The healthy-lung bound of the 8-bit involvement scale (healthy-anchor.ts) and what it does to involvement (involvement.ts). */
import test from 'node:test';
import assert from 'node:assert/strict';
import { HEALTHY_SHARE, healthyAnchor, healthyBound, lungDarkLevel } from '../src/data/healthy-anchor.js';
import { findLungs, INVOLVEMENT_OPTIONS, lungInvolvement } from '../src/data/involvement.js';
import { segmentLungs } from '../src/data/lungs.js';
import { Rng } from '../src/util/prng.js';
import { lungPhantom } from './helpers.js';

test('the bound is 130 HU above air on a scale whose top is soft tissue (1040 HU above air); it only ever lowers the decile', () => {
  assert.equal(HEALTHY_SHARE, 0.125);
  // Lung window (W1500 / L-600): air -1000 HU is grey 59.5, soft tissue +40 HU grey 236.3: the bound is -870 HU, grey 81.6.
  assert.ok(Math.abs(healthyBound(59.5, 236.3) - 81.6) < 0.05);
  // A healthy lung: its decile (-890 HU, grey 78.2) is below the bound and stays.
  assert.equal(healthyAnchor(78.2, 236.3, 59.5), 78.2);
  // Diffuse ground glass (decile -520 HU, grey 141.1) with airways showing: the bound.
  assert.ok(Math.abs(healthyAnchor(141.1, 236.3, 59.5) - 81.6) < 0.05);
  // No dark level readable: the decile.
  assert.equal(healthyAnchor(141.1, 236.3, null), 141.1);
});

test('the dark level reads airways a few px across, not single dark pixels (noise)', () => {
  const W = 64, H = 64;
  const grey = new Uint8Array(W * H).fill(120), labels = new Uint8Array(W * H);
  for (let y = 4; y < 60; y++) for (let x = 4; x < 60; x++) labels[y * W + x] = 1;
  const box = { x0: 0, y0: 0, x1: W, y1: H };
  // 40 isolated black pixels (2.5% of the lung, far above the 0.5% quantile) leave the level at the lung's grey...
  for (let k = 0; k < 40; k++) grey[(8 + ((k * 7) % 48)) * W + 8 + ((k * 13) % 48)] = 0;
  const noisy = lungDarkLevel(grey, labels, W, box)!;
  assert.ok(noisy >= 105, `isolated dark pixels read as a dark level of ${noisy}`);
  // ...an airway 6 x 6 px (1.1% of the lung) sets it: the 16 means of a 3 x 3 wholly inside it are air, 0.5% of
  // the lung's 2916 means.
  for (let y = 30; y < 36; y++) for (let x = 30; x < 36; x++) grey[y * W + x] = 10;
  assert.equal(lungDarkLevel(grey, labels, W, box), 10);
  // Lung pixels whose 3 x 3 leaves the lung are not read: a lung thinner than 3 px has no level.
  const thin = new Uint8Array(W * H);
  for (let x = 4; x < 60; x++) thin[20 * W + x] = thin[21 * W + x] = 1;
  assert.equal(lungDarkLevel(grey, thin, W, box), null);
});

/**
 * Both lungs of the phantom filled with ground glass, with 80 vessels as dense as soft tissue (so that the brightest
 * percentile is blood, as in a real lung) and, when `airways`, 10 airways 10 px across at air's grey. Greys as in a
 * lung window: air 0, ground glass about half-way to the soft tissue (150), as -520 HU is between -1000 and +40 HU.
 */
function groundGlassLungs(airways: boolean, noise = 0): { width: number; height: number; data: Uint8Array } {
  const img = lungPhantom(384, false);
  const S = 384, rng = new Rng(7);
  for (let i = 0; i < S * S; i++) if (img.data[i] >= 15 && img.data[i] < 40) img.data[i] = 70 + ((i * 7) % 11);
  for (let k = 0; k < 80; k++) {
    const cx = 70 + ((k * 37) % 260), cy = 110 + ((k * 53) % 170);
    for (let y = cy - 2; y <= cy + 2; y++) for (let x = cx - 2; x <= cx + 2; x++) {
      const i = y * S + x;
      if ((x - cx) ** 2 + (y - cy) ** 2 <= 4 && img.data[i] >= 70 && img.data[i] <= 80) img.data[i] = 150;
    }
  }
  if (airways) {
    for (let k = 0; k < 10; k++) {
      const cx = (k < 5 ? 105 : 250) + 15 * (k % 5) / 2, cy = 140 + 22 * (k % 5);
      for (let y = cy - 5; y <= cy + 5; y++) for (let x = cx - 5; x <= cx + 5; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= 25) img.data[y * S + x] = 8;
    }
  }
  if (noise) for (let i = 0; i < S * S; i++) img.data[i] = Math.max(0, Math.min(255, Math.round(img.data[i] + noise * rng.normal())));
  return img;
}

test('a lung all ground glass with airways showing reads as involved on the 8-bit scale; without airways nothing can tell', () => {
  const seg = segmentLungs(groundGlassLungs(true));
  assert.ok(seg.found, 'the phantom has lungs');
  const now = lungInvolvement(seg)!.fraction;
  const decileOnly = lungInvolvement(seg, undefined, { ...INVOLVEMENT_OPTIONS, airwayAnchor: false })!.fraction;
  // The darkest decile is ground glass: on it alone the lung reads clear.
  assert.ok(decileOnly < 0.05, `decile-anchored involvement ${decileOnly}`);
  assert.ok(now > 0.8, `ground glass over the whole lung reads ${now}`);
  // The same through predict's path (findLungs): the slice is read, not refused, and its involvement is this one.
  const read = findLungs(groundGlassLungs(true));
  assert.equal(read.findings.found, true, read.findings.reason);
  assert.equal(read.findings.involvement, now);
  // No airway and no aerated lung left: the darkest pixels are ground glass too, and the bound does not bite.
  const blind = segmentLungs(groundGlassLungs(false));
  assert.ok(blind.found);
  assert.ok(lungInvolvement(blind)!.fraction < 0.05, `without airways ${lungInvolvement(blind)!.fraction}`);
});

test('healthy lungs (clear, with a patch, noisy) read exactly as with the decile alone', () => {
  const rng = new Rng(3);
  const noisy = lungPhantom(384, true);
  for (let i = 0; i < noisy.data.length; i++) noisy.data[i] = Math.max(0, Math.min(255, Math.round(noisy.data[i] + 12 * rng.normal())));
  for (const [what, img] of [['clear', lungPhantom(384, false)], ['patch', lungPhantom(384, true)], ['noisy', noisy]] as const) {
    const seg = segmentLungs(img);
    const a = lungInvolvement(seg)!, b = lungInvolvement(seg, undefined, { ...INVOLVEMENT_OPTIONS, airwayAnchor: false })!;
    assert.equal(a.fraction, b.fraction, what);
    assert.deepEqual(a.mask, b.mask, what);
  }
});
