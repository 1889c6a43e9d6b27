/**
 * The fourth pass over the lung stage's speed (docs/speed4.md) gives exactly what the code before it gave: each
 * rewritten step against the previous code, kept here verbatim as the reference, on random images, masks and
 * phantoms (never dataset images; bench/lung-stage-ab.ts checks those), and the new helpers on known values.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resample } from '../src/data/working-image.js';
import { chamferSweeps, erode, rowBands, rowDistances, ROW_NONE, type RowBandScratch } from '../src/data/morphology.js';
import { componentThickness, EDGE_RUN, rowStarts, type LabelledRuns } from '../src/data/run-thickness.js';
import { closeComponent, newClosingScratch } from '../src/data/run-closing.js';
import { enclosedTissue, ENCLOSED_TISSUE, hullArea, solidLevel } from '../src/data/enclosed-tissue.js';
import { chestFigures, CHEST_LIMITS, type ChestFigures } from '../src/data/chest-check.js';
import { lungCore } from '../src/data/involvement.js';
import { segmentLungs, type LungSegmentation } from '../src/data/lungs.js';
import { histogramQuantile } from '../src/data/histogram.js';
import { lungPhantom } from './helpers.js';
import type { GreyImage } from '../src/types.js';
import { Rng } from '../src/util/prng.js';

// ---------- the previous code (3e26b1d), the reference ----------
const LANCZOS_A = 3;
function lanczos(x: number): number {
  if (x === 0) return 1;
  if (x <= -LANCZOS_A || x >= LANCZOS_A) return 0;
  const px = Math.PI * x;
  return (LANCZOS_A * Math.sin(px) * Math.sin(px / LANCZOS_A)) / (px * px);
}
function oldTaps(inSize: number, from: number, span: number, outSize: number) {
  const step = span / outSize;
  const stretch = Math.max(step, 1);
  const support = LANCZOS_A * stretch;
  const width = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * width);
  for (let i = 0; i < outSize; i++) {
    const centre = from + (i + 0.5) * step;
    const lo = Math.max(0, Math.floor(centre - support + 0.5));
    const hi = Math.min(inSize, Math.floor(centre + support + 0.5));
    let sum = 0;
    const n = Math.min(width, Math.max(0, hi - lo));
    for (let k = 0; k < n; k++) {
      const w = lanczos((lo + k + 0.5 - centre) / stretch);
      weights[i * width + k] = w;
      sum += w;
    }
    if (sum !== 0) for (let k = 0; k < n; k++) weights[i * width + k] /= sum;
    start[i] = lo;
    count[i] = n;
  }
  return { start, count, weights: Float64Array.from(weights), width };
}
function oldResample(src: GreyImage, region: { x0: number; y0: number; w: number; h: number }, outW: number, outH: number): GreyImage {
  const tx = oldTaps(src.width, region.x0, region.w, outW);
  const ty = oldTaps(src.height, region.y0, region.h, outH);
  let rowLo = src.height, rowHi = 0;
  for (let j = 0; j < outH; j++) {
    rowLo = Math.min(rowLo, ty.start[j]);
    rowHi = Math.max(rowHi, ty.start[j] + ty.count[j]);
  }
  rowHi = Math.max(rowHi, rowLo);
  const rows = rowHi - rowLo;
  const mid = new Float32Array(rows * outW);
  const s = src.data, sw = src.width;
  const xs = tx.start, xc = tx.count, xw = tx.weights, xWidth = tx.width;
  for (let r = 0; r < rows; r++) {
    const rowAt = (rowLo + r) * sw, midAt = r * outW;
    for (let i = 0; i < outW; i++) {
      let acc = 0;
      const base = xs[i] + rowAt, wAt = i * xWidth;
      for (let k = 0, n = xc[i]; k < n; k++) acc += s[base + k] * xw[wAt + k];
      mid[midAt + i] = acc;
    }
  }
  const out = new Uint8Array(outW * outH);
  const acc = new Float64Array(outW);
  const ys = ty.start, yc = ty.count, yw = ty.weights, yWidth = ty.width;
  for (let j = 0; j < outH; j++) {
    const wAt = j * yWidth;
    const first = ys[j] - rowLo;
    acc.fill(0);
    for (let k = 0, n = yc[j]; k < n; k++) {
      const w = yw[wAt + k];
      const rowAt = (first + k) * outW;
      for (let i = 0; i < outW; i++) acc[i] += mid[rowAt + i] * w;
    }
    const outAt = j * outW;
    for (let i = 0; i < outW; i++) {
      const a = acc[i];
      out[outAt + i] = a <= 0 ? 0 : a >= 255 ? 255 : Math.round(a);
    }
  }
  return { width: outW, height: outH, data: out };
}

const INF = 0x3fffffff;
const BIG = 1 << 20;
function oldRunThickness(comp: Int32Array, sel: Uint8Array, w: number, h: number, x0: number, y0: number, x1: number, y1: number, out: Int32Array, up: Int32Array, core: Int32Array, maxDist: Int32Array): void {
  // A run starts at 1, or at BIG on the image's edge; then it counts on (the window's first pixel of a row or
  // column is the only one that can start on the edge, so the rest need no test).
  const left0 = x0 === 0 ? BIG : 1, right0 = x1 === w ? BIG : 1, top0 = y0 === 0 ? BIG : 1, bottom0 = y1 === h ? BIG : 1;
  for (let y = y0; y < y1; y++) {
    const row = y * w;
    let i = row + x0, run = sel[comp[i]] ? left0 : 0;
    out[i] = run;
    for (i++; i < row + x1; i++) { run = sel[comp[i]] ? run + 1 : 0; out[i] = run; }
    i = row + x1 - 1;
    run = out[i] ? right0 : 0;
    if (run < out[i]) out[i] = run;
    for (i--; i >= row + x0; i--) { const v = out[i]; run = v ? run + 1 : 0; if (run < v) out[i] = run; }
  }
  const ww = x1 - x0;
  const col = new Int32Array(ww);
  for (let y = y0; y < y1; y++) {
    const row = y * w + x0;
    if (y === y0) { for (let k = 0; k < ww; k++) { const c = out[row + k] ? top0 : 0; col[k] = c; up[row + k] = c; } continue; }
    for (let k = 0; k < ww; k++) { const c = out[row + k] ? col[k] + 1 : 0; col[k] = c; up[row + k] = c; }
  }
  for (let y = y1 - 1; y >= y0; y--) {
    const row = y * w + x0, first = y === y1 - 1;
    for (let k = 0; k < ww; k++) {
      const i = row + k;
      const v = out[i];
      if (!v) { col[k] = 0; continue; }
      const c = first ? bottom0 : col[k] + 1;
      col[k] = c;
      let m = v < up[i] ? v : up[i];
      if (c < m) m = c;
      out[i] = m;
      const id = comp[i];
      if (m >= 2) core[id]++;
      if (m > maxDist[id]) maxDist[id] = m;
    }
  }
}

function oldClosing(comp: Int32Array, id: number, body: Uint8Array, labels: Uint8Array, w: number, hh: number, x0: number, y0: number, x1: number, y1: number, R: number, d1: Int32Array, d2: Int32Array, out: Uint8Array): void {
  // Distance to the component.
  for (let y = y0; y < y1; y++) for (let i = y * w + x0, end = y * w + x1; i < end; i++) d1[i] = comp[i] === id ? 0 : INF;
  chamferSweeps(d1, w, x0, y0, x1, y1);
  // The dilation's complement (d1 > R) seeds the second transform. The image's edge counts as outside the
  // dilation: the closing adds nothing within R of it, so a lung cut by the crop gets no wedges filled between it
  // and the edge (its own pixels stay).
  for (let y = y0; y < y1; y++) {
    const edgeRow = y === 0 || y === hh - 1;
    for (let x = x0, i = y * w + x0; x < x1; x++, i++) d2[i] = d1[i] > R || edgeRow || x === 0 || x === w - 1 ? 0 : INF;
  }
  // Distance to the dilation's complement; the closing is where it exceeds R.
  chamferSweeps(d2, w, x0, y0, x1, y1);
  for (let y = y0; y < y1; y++) {
    for (let i = y * w + x0, end = y * w + x1; i < end; i++) out[i] = comp[i] === id || (d2[i] > R && body[i] && !labels[i]) ? 1 : 0;
  }
}

function oldSolidLevel(lung: ArrayLike<number>, data: ArrayLike<number>, W: number, H: number, lungLow: number): number | null {
  const hist = new Float64Array(256);
  let n = 0;
  const [inner, outer] = ENCLOSED_TISSUE.ring;
  const take = (x: number, row: number) => {
    if (x < 0 || x >= W || lung[row + x]) return;
    hist[Math.min(255, Math.max(0, Math.round(data[row + x])))]++;
    n++;
  };
  for (let y = 0; y < H; y++) {
    const row = y * W;
    for (let x = 0; x < W; x++) {
      const here = lung[row + x] ? 1 : 0, before = x > 0 && lung[row + x - 1] ? 1 : 0;
      if (here && !before) for (let d = inner; d <= outer; d++) take(x - d, row); // a run starts at x
      if (!here && before) for (let d = inner - 1; d < outer; d++) take(x + d, row); // a run ended at x - 1
    }
  }
  if (n === 0) return null;
  let seen = 0, median = 0;
  for (let g = 0; g < 256; g++) { seen += hist[g]; if (seen >= n / 2) { median = g; break; } }
  return median > lungLow ? lungLow + ENCLOSED_TISSUE.solid * (median - lungLow) : null;
}
function oldEnclosedTissue(lung: ArrayLike<number>, data: ArrayLike<number>, W: number, H: number, solid: number): Uint8Array {
  const out = new Uint8Array(W * H);
  let lungArea = 0;
  for (let i = 0; i < W * H; i++) if (lung[i]) lungArea++;
  if (lungArea === 0) return out;
  const seen = new Uint8Array(W * H);
  const stack: number[] = [];
  for (let start = 0; start < W * H; start++) {
    if (seen[start] || !lung[start] || data[start] < solid) continue;
    // One 4-connected component of solid lung pixels.
    const pixels: number[] = [];
    let border = 0, contact = 0;
    seen[start] = 1;
    stack.push(start);
    // The picture's edge counts as not lung: an island cut by the frame is not known to be enclosed.
    const visit = (j: number) => {
      if (j < 0 || !lung[j]) { border++; contact++; return; }
      if (data[j] < solid) { border++; return; }
      if (!seen[j]) { seen[j] = 1; stack.push(j); }
    };
    while (stack.length) {
      const i = stack.pop()!;
      pixels.push(i);
      const x = i % W, y = (i - x) / W;
      visit(x > 0 ? i - 1 : -1);
      visit(x < W - 1 ? i + 1 : -1);
      visit(y > 0 ? i - W : -1);
      visit(y < H - 1 ? i + W : -1);
    }
    if (contact > ENCLOSED_TISSUE.contact * border || pixels.length < ENCLOSED_TISSUE.area * lungArea) continue;
    if (pixels.length < ENCLOSED_TISSUE.convexity * hullArea(pixels, W)) continue;
    for (const i of pixels) out[i] = 1;
  }
  return out;
}

function oldChestFigures(seg: LungSegmentation): ChestFigures {
  const { width: w, height: h, data } = seg.analysis;
  const n = w * h;
  const t = seg.threshold ?? 128;
  const row3 = new Int32Array(n);
  const labels = seg.labels, body = seg.body;
  const lungHist = new Float64Array(256), tissueHist = new Float64Array(256);
  let nLung = 0, nTissue = 0;
  // Tissue on the image's edge (the lungs' core never is: it is the lungs eroded by 1 px, see below).
  for (let i = 0; i < n; i++) {
    const x = i % w;
    if (i >= w && i < n - w && x !== 0 && x !== w - 1) { i += w - 3; continue; }
    if (body[i] && !labels[i] && data[i] >= t) { tissueHist[data[i]]++; nTissue++; }
  }
  // Row sums of 3 once, so that the 3x3 mean costs three reads per pixel; the picture's histogram in the same pass.
  const all = new Float64Array(256);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    all[data[row]]++;
    if (w > 1) all[data[row + w - 1]]++;
    for (let x = 1, i = row + 1; x < w - 1; x++, i++) { const v = data[i]; all[v]++; row3[i] = data[i - 1] + v + data[i + 1]; }
  }
  let lungHp = 0, lungHpN = 0, tisHp = 0, tisHpN = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1, i = y * w + 1; x < w - 1; x++, i++) {
      const v = data[i];
      // The lungs' core: eroded by 1 px (a lung pixel whose 4 neighbours are lung), since the rim where lung meets
      // tissue is partial volume, neither.
      if (labels[i] && labels[i - 1] && labels[i + 1] && labels[i - w] && labels[i + w]) {
        lungHist[v]++; nLung++;
        lungHp += Math.abs(v - (row3[i - w] + row3[i] + row3[i + w]) / 9); lungHpN++;
      } else if (body[i] && !labels[i] && v >= t) {
        tissueHist[v]++; nTissue++;
        // Off the body's outline only (ca71dee): every one of the 8 neighbours inside the body.
        let inside = true;
        for (const d of [-w - 1, -w, -w + 1, -1, 1, w - 1, w, w + 1]) if (!body[i + d]) inside = false;
        if (inside) { tisHp += Math.abs(v - (row3[i - w] + row3[i] + row3[i + w]) / 9); tisHpN++; }
      }
    }
  }
  const contrast = histogramQuantile(tissueHist, nTissue, 0.5) - histogramQuantile(lungHist, nLung, 0.5);
  // A strong edge is a step of a good part of the lung-tissue contrast, so that a washed-out export (contrast
  // halved) keeps the same edges; 40 grey levels when there is no contrast to measure.
  const edgeT = contrast > 0 ? Math.max(CHEST_LIMITS.minEdge, CHEST_LIMITS.edgeOfContrast * contrast) : CHEST_LIMITS.edge;
  const edge2 = edgeT * edgeT, ratio = CHEST_LIMITS.axisRatio;
  // The picture's own darkest and brightest greys stand for clipped air and clipped tissue (a lung window clips
  // soft tissue to its brightest grey, and a washed-out export moves that grey to mid-grey): never "flat colour".
  // (Percentiles 0.5 and 99.5 rather than the extremes: resampling overshoots a clipped grey at its edges.)
  const flatLo = histogramQuantile(all, n, 0.005) + 8, flatHi = histogramQuantile(all, n, 0.995) - 8;
  let mid = 0, flat = 0, edges = 0, axis = 0;
  const box = seg.box ?? { x0: 0, y0: 0, x1: w, y1: h };
  const mx = CHEST_LIMITS.edgeMargin * (box.x1 - box.x0), my = CHEST_LIMITS.edgeMargin * (box.y1 - box.y0);
  const ex0 = box.x0 - mx, ex1 = box.x1 + mx, ey0 = box.y0 - my, ey1 = box.y1 + my;
  for (let y = 1; y < h - 1; y++) {
    const inner = y >= 2 && y < h - 2;
    const edgeRow = y >= ey0 && y < ey1;
    for (let x = 1, i = y * w + 1; x < w - 1; x++, i++) {
      const v = data[i];
      // Flat: the 5x5 neighbourhood is one exact grey. 5x5 rather than 3x3, so that a CT slice whose grain was
      // squeezed into a few grey levels (low contrast, JPEG) does not count: only areas of one colour do.
      if (inner && x >= 2 && x < w - 2 && v > flatLo && v < flatHi) {
        mid++;
        let same = true;
        for (let dy = -2 * w; dy <= 2 * w && same; dy += w) for (let dx = -2; dx <= 2; dx++) if (data[i + dy + dx] !== v) { same = false; break; }
        if (same) flat++;
      }
      // Sobel: its smoothing across the edge keeps the staircase of a drawn diagonal or curve from reading as
      // horizontal and vertical steps.
      // (Only around the lungs: the gradient is computed there only.)
      if (!edgeRow || x < ex0 || x >= ex1) continue;
      const gx = (data[i - w + 1] + 2 * data[i + 1] + data[i + w + 1] - data[i - w - 1] - 2 * data[i - 1] - data[i + w - 1]) / 4;
      const gy = (data[i + w - 1] + 2 * data[i + w] + data[i + w + 1] - data[i - w - 1] - 2 * data[i - w] - data[i - w + 1]) / 4;
      if (gx * gx + gy * gy > edge2) {
        edges++;
        const ax = gx < 0 ? -gx : gx, ay = gy < 0 ? -gy : gy;
        if ((ax < ay ? ax : ay) < ratio * (ax < ay ? ay : ax)) axis++;
      }
    }
  }
  return {
    coarse: oldCoarseShare(data, w, h, CHEST_LIMITS.block, all),
    axisEdges: edges ? axis / edges : 0,
    flat: mid ? flat / mid : 0,
    lungGrain: lungHpN ? lungHp / lungHpN : NaN,
    tissueGrain: tisHpN ? tisHp / tisHpN : NaN,
    contrast,
    lungFloor: ((darkest: number, tm: number) => (nLung && nTissue && tm > darkest ? (histogramQuantile(lungHist, nLung, 0.05) - darkest) / (tm - darkest) : NaN))(histogramQuantile(all, n, 0.005), histogramQuantile(tissueHist, nTissue, 0.5)),
  };
}
function oldCoarseShare(data: Uint8Array, w: number, h: number, B: number, all: Float64Array): number {
  let s = 0, ss = 0;
  for (let v = 1; v < 256; v++) { s += v * all[v]; ss += v * v * all[v]; }
  const n = w * h, pixelVar = ss / n - (s / n) ** 2;
  let bs = 0, bss = 0, nb = 0;
  for (let y0 = 0; y0 + B <= h; y0 += B) {
    for (let x0 = 0; x0 + B <= w; x0 += B) {
      let m = 0;
      for (let y = y0; y < y0 + B; y++) for (let x = x0, i = y * w + x0; x < x0 + B; x++, i++) m += data[i];
      m /= B * B;
      bs += m; bss += m * m; nb++;
    }
  }
  return pixelVar > 0 && nb > 1 ? (bss / nb - (bs / nb) ** 2) / pixelVar : NaN;
}

// ---------- the tests ----------
/** A random picture: smooth shapes, hard edges, clipped extremes and noise (what resampling rounds differently). */
function randomImage(rng: Rng, w: number, h: number): GreyImage {
  const data = new Uint8Array(w * h);
  const fx = rng.uniform(2, 30), fy = rng.uniform(2, 30), noise = rng.uniform(0, 80);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = 128 + 140 * Math.sin(x / fx) * Math.cos(y / fy) + noise * (rng.next() - 0.5) + ((x * 7) % 23 < 3 ? 90 : 0);
      data[y * w + x] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { width: w, height: h, data };
}

test('resample: exactly the previous code, shrinking, enlarging and cropping (fractional regions), every output size mod 8', () => {
  const rng = new Rng(4);
  let compared = 0;
  for (const [w, h, outW, outH] of [
    [796, 483, 256, 155], [512, 512, 256, 256], [146, 144, 256, 252], [407, 305, 256, 192], [211, 159, 256, 193],
    [1000, 37, 256, 9], [9, 700, 3, 256], [64, 48, 64, 48], [30, 30, 1, 1], [257, 255, 255, 257],
  ]) {
    const img = randomImage(rng, w, h);
    assert.deepEqual(resample(img, { x0: 0, y0: 0, w, h }, outW, outH).data, oldResample(img, { x0: 0, y0: 0, w, h }, outW, outH).data, `${w}x${h} -> ${outW}x${outH}`);
    compared++;
    // A fractional region (as 'cover' and the lungs-only view cut), to sizes of every remainder mod 8.
    for (let k = 0; k < 3; k++) {
      const region = { x0: rng.uniform(-3, w / 4), y0: rng.uniform(-3, h / 4), w: rng.uniform(w / 3, w * 0.8), h: rng.uniform(h / 3, h * 0.8) };
      const ow = 1 + rng.int(300), oh = 1 + rng.int(300);
      assert.deepEqual(resample(img, region, ow, oh).data, oldResample(img, region, ow, oh).data, `${w}x${h} ${JSON.stringify(region)} -> ${ow}x${oh}`);
      compared++;
    }
  }
  assert.equal(compared, 40);
});

/** 4-connected components of a mask (flood fill, the plain way): ids 1.. in raster order of their first pixel, and their row runs. */
function labelPlain(mask: Uint8Array, w: number, h: number): { comp: Int32Array; runs: LabelledRuns; boxes: { x0: number; y0: number; x1: number; y1: number }[] } {
  const comp = new Int32Array(w * h);
  const boxes: { x0: number; y0: number; x1: number; y1: number }[] = [];
  for (let s = 0; s < w * h; s++) {
    if (!mask[s] || comp[s]) continue;
    const id = boxes.length + 1, box = { x0: w, y0: h, x1: 0, y1: 0 };
    boxes.push(box);
    const stack = [s];
    comp[s] = id;
    while (stack.length) {
      const i = stack.pop()!, x = i % w, y = (i - x) / w;
      box.x0 = Math.min(box.x0, x); box.y0 = Math.min(box.y0, y); box.x1 = Math.max(box.x1, x + 1); box.y1 = Math.max(box.y1, y + 1);
      for (const [j, ok] of [[i - 1, x > 0], [i + 1, x < w - 1], [i - w, y > 0], [i + w, y < h - 1]] as const) if (ok && mask[j] && !comp[j]) { comp[j] = id; stack.push(j); }
    }
  }
  const rs: number[] = [], re: number[] = [], ry: number[] = [], ids: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w;) {
      if (!comp[y * w + x]) { x++; continue; }
      const id = comp[y * w + x], xs = x;
      while (x < w && comp[y * w + x] === id) x++;
      rs.push(xs); re.push(x); ry.push(y); ids.push(id);
    }
  }
  return { comp, boxes, runs: { n: rs.length, rs: Int32Array.from(rs), re: Int32Array.from(re), ry: Int32Array.from(ry), ids: Int32Array.from(ids) } };
}

/** Random blobs (ellipses) with speckle and holes, some at the image's edges. */
function randomBlobs(rng: Rng, w: number, h: number, k: number): Uint8Array {
  const mask = new Uint8Array(w * h);
  for (let b = 0; b < k; b++) {
    const cx = rng.uniform(-0.1, 1.1) * w, cy = rng.uniform(-0.1, 1.1) * h, rx = 1 + rng.next() * w / 3, ry = 1 + rng.next() * h / 3;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1) mask[y * w + x] = 1;
  }
  for (let i = 0; i < w * h; i++) if (rng.next() < 0.03) mask[i] ^= 1;
  return mask;
}

test('componentThickness: the known thicknesses of small shapes, edge runs counted from EDGE_RUN', () => {
  // A 5x3 bar inside a 7x5 image: thickness 1 on its rim, 2 on its middle row but the ends (min of the runs).
  const w = 7, h = 5;
  const mask = new Uint8Array(w * h);
  for (let y = 1; y < 4; y++) for (let x = 1; x < 6; x++) mask[y * w + x] = 1;
  const { runs, boxes } = labelPlain(mask, w, h);
  const starts = rowStarts(runs, h, new Int32Array(h + 1));
  assert.deepEqual([...starts], [0, 0, 1, 2, 3, 3]);
  assert.deepEqual(componentThickness(runs, starts, 1, boxes[0], w, h, { cols: new Int32Array(0), up: new Int32Array(0) }), { core: 3, max: 2 });
  // The same bar along the left edge, rows 0-2: its runs there count from EDGE_RUN (the edge does not end them), so
  // the pixels of the left column have left runs of EDGE_RUN +; the thickest pixel is then limited by the others.
  const edge = new Uint8Array(w * h);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 5; x++) edge[y * w + x] = 1;
  const e = labelPlain(edge, w, h);
  const r = componentThickness(e.runs, rowStarts(e.runs, h, new Int32Array(h + 1)), 1, e.boxes[0], w, h, { cols: new Int32Array(0), up: new Int32Array(0) });
  // (0,0): left EDGE_RUN, right 5, up EDGE_RUN, down 3 -> 3; (0,1), (1,1): 2 ... the largest is 3.
  assert.deepEqual(r, { core: 8, max: 3 });
  assert.ok(EDGE_RUN > w * h);
});

test('componentThickness: exactly the previous four sweeps over each component box, on random masks', () => {
  const rng = new Rng(7);
  let compared = 0;
  for (const [w, h] of [[16, 16], [40, 23], [97, 130], [256, 181]]) {
    for (let k = 0; k < 6; k++) {
      const mask = randomBlobs(rng, w, h, 1 + rng.int(5));
      const { comp, runs, boxes } = labelPlain(mask, w, h);
      const starts = rowStarts(runs, h, new Int32Array(h + 1));
      const scratch = { cols: new Int32Array(0), up: new Int32Array(0) };
      const sel = new Uint8Array(boxes.length + 1), core = new Int32Array(boxes.length + 1), maxDist = new Int32Array(boxes.length + 1);
      const out = new Int32Array(w * h), up = new Int32Array(w * h);
      boxes.forEach((b, j) => {
        const id = j + 1;
        sel[id] = 1;
        oldRunThickness(comp, sel, w, h, b.x0, b.y0, b.x1, b.y1, out, up, core, maxDist);
        sel[id] = 0;
        assert.deepEqual(componentThickness(runs, starts, id, b, w, h, scratch), { core: core[id], max: maxDist[id] }, `${w}x${h} #${k} component ${id}`);
        compared++;
      });
    }
  }
  assert.ok(compared > 100, `${compared} components`);
});

test('closeComponent: exactly the previous two distance transforms, on random components, bodies and labels', () => {
  const rng = new Rng(11);
  let compared = 0, added = 0;
  for (const [w, h] of [[24, 20], [64, 64], [120, 90], [256, 200]]) {
    for (let k = 0; k < 5; k++) {
      const mask = randomBlobs(rng, w, h, 1 + rng.int(4));
      const { comp, boxes } = labelPlain(mask, w, h);
      const body = Uint8Array.from({ length: w * h }, () => (rng.next() < 0.9 ? 1 : 0));
      const labels = Uint8Array.from({ length: w * h }, () => (rng.next() < 0.05 ? 1 : 0));
      const scratch = newClosingScratch();
      boxes.forEach((c, j) => {
        const id = j + 1;
        // As lungs.ts: a radius of 2 .. 16 px, the box grown by it + 1, clipped to the image.
        const r = 2 + rng.int(15), R = 3 * r;
        const x0 = Math.max(0, c.x0 - r - 1), y0 = Math.max(0, c.y0 - r - 1), x1 = Math.min(w, c.x1 + r + 1), y1 = Math.min(h, c.y1 + r + 1);
        const want = new Uint8Array(w * h).fill(7), got = new Uint8Array(w * h).fill(7);
        oldClosing(comp, id, body, labels, w, h, x0, y0, x1, y1, R, new Int32Array(w * h), new Int32Array(w * h), want);
        closeComponent(comp, id, c, body, labels, w, h, x0, y0, x1, y1, R, got, scratch);
        assert.deepEqual(got, want, `${w}x${h} #${k} component ${id} radius ${r}`);
        for (let i = 0; i < w * h; i++) if (want[i] === 1 && comp[i] !== id) added++;
        compared++;
      });
    }
  }
  assert.ok(compared > 40 && added > 300, `${compared} closings, ${added} pixels added by them`);
  // Known values: a 5x5 square with a slot 1 px wide and 3 deep in its top edge, closed by the 2 px ball (half-widths
  // 2, 1, 0): the slot's two lower pixels fill; its top one does not (the ball around it reaches (7, 3), which is
  // 3 x 2 + 1 = 7 units > 6 from the square, so outside the dilation).
  const w = 15, h = 15, comp = new Int32Array(w * h);
  for (let y = 5; y < 10; y++) for (let x = 5; x < 10; x++) if (!(x === 7 && y < 8)) comp[y * w + x] = 1;
  const out = new Uint8Array(w * h);
  closeComponent(comp, 1, { x0: 5, y0: 5, x1: 10, y1: 10 }, new Uint8Array(w * h).fill(1), new Uint8Array(w * h), w, h, 2, 2, 13, 13, 6, out, newClosingScratch());
  assert.equal(out.reduce((a, v) => a + v, 0), 24);
  assert.deepEqual([out[5 * w + 7], out[6 * w + 7], out[7 * w + 7]], [0, 1, 1]);
});

test('rowBands: both row distances in one pass, and a repeated call on the same mask and window returns them unchanged', () => {
  const rng = new Rng(5);
  for (const [W, H] of [[9, 7], [64, 40], [200, 150]]) {
    const mask = randomBlobs(rng, W, H, 3);
    const win = { x0: Math.floor(W / 5), y0: 1, x1: W, y1: H - 2 }, rows = 4;
    const scratch: RowBandScratch = { buf: new Int32Array(0) };
    const b = rowBands(mask, W, win, rows, scratch);
    const ww = win.x1 - win.x0, hh = win.y1 - win.y0;
    assert.deepEqual(b.toSet.subarray(b.pad, b.pad + ww * hh), rowDistances(mask, W, win.x0, win.y0, win.x1, win.y1, true, new Int32Array(ww * hh)));
    assert.deepEqual(b.toUnset.subarray(b.pad, b.pad + ww * hh), rowDistances(mask, W, win.x0, win.y0, win.x1, win.y1, false, new Int32Array(ww * hh)));
    assert.ok(b.toSet.subarray(0, b.pad).every((v) => v === ROW_NONE) && b.toUnset.subarray(b.toUnset.length - b.pad).every((v) => v === ROW_NONE));
    // The same mask, window and rows: the stored result (its buffer is not rewritten).
    b.toSet[b.pad] = -5;
    assert.equal(rowBands(mask, W, win, rows, scratch).toSet[b.pad], -5);
    // Another mask (even with the same content), another window or other rows: computed again.
    assert.notEqual(rowBands(mask.slice(), W, win, rows, scratch).toSet[b.pad], -5);
    b.toSet[b.pad] = -5;
    assert.notEqual(rowBands(mask, W, { ...win, y1: win.y1 - 1 }, rows, scratch).toSet[b.pad], -5);
  }
});

/** A segmentation-shaped object around random lung blobs (labels 1 and 2), with its box. */
function blobSeg(rng: Rng, W: number, H: number): LungSegmentation {
  const labels = randomBlobs(rng, W, H, 1 + rng.int(3)).map((v, i) => (v ? 1 + (i % W < W / 2 ? 0 : 1) : 0));
  const data = Uint8Array.from({ length: W * H }, (_, i) => (labels[i] ? 20 + rng.int(60) : 120 + rng.int(100)));
  let x0 = W, y0 = H, x1 = 0, y1 = 0;
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (labels[y * W + x]) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + 1); y1 = Math.max(y1, y + 1); }
  const body = Uint8Array.from({ length: W * H }, (_, i) => (i % W > 2 && i % W < W - 3 ? 1 : 0));
  return { analysis: { width: W, height: H, data }, scale: 1, labels, body, box: x1 > x0 ? { x0, y0, x1, y1 } : null, quality: { areaFraction: 0, components: 2, balance: 1 }, found: x1 > x0, threshold: 100 };
}

test('lungCore: the lungs eroded by 2 px (erode), from the row bands, on random lungs and phantoms', () => {
  const rng = new Rng(13);
  const check = (seg: LungSegmentation, what: string) => {
    const { width: W, height: H } = seg.analysis;
    const box = seg.box!;
    assert.deepEqual(lungCore(seg, box, new Uint8Array(W * H).fill(9)), erode(seg.labels, W, H, 2, box), what);
  };
  for (const [W, H] of [[16, 16], [64, 48], [256, 200]]) for (let k = 0; k < 6; k++) { const seg = blobSeg(rng, W, H); if (seg.box) check(seg, `${W}x${H} #${k}`); }
  for (const size of [300, 384]) check(segmentLungs(lungPhantom(size)), `phantom ${size}`);
});

test('enclosedTissue and solidLevel: exactly the previous code, on random lungs with solid islands', () => {
  const rng = new Rng(17);
  let islands = 0, compared = 0;
  for (const [W, H] of [[40, 30], [90, 90], [160, 120]]) {
    for (let k = 0; k < 8; k++) {
      const lung = randomBlobs(rng, W, H, 2);
      const data = Uint8Array.from({ length: W * H }, (_, i) => (lung[i] ? 30 + rng.int(40) : 150 + rng.int(60)));
      // Solid discs inside the lung (domes), some ragged, and the lung filled under them.
      for (let d = 0; d < 3; d++) {
        const cx = rng.next() * W, cy = rng.next() * H, r = 2 + rng.next() * W / 8;
        for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r && rng.next() < 0.97) { lung[y * W + x] = 1; data[y * W + x] = 170 + rng.int(50); }
      }
      const low = rng.uniform(10, 60);
      const solid = solidLevel(lung, data, W, H, low);
      assert.equal(solid, oldSolidLevel(lung, data, W, H, low), `${W}x${H} #${k}`);
      const at = solid ?? 140;
      const got = enclosedTissue(lung, data, W, H, at);
      assert.deepEqual(got, oldEnclosedTissue(lung, data, W, H, at), `${W}x${H} #${k}`);
      islands += got.reduce((a, v) => a + v, 0);
      compared++;
    }
  }
  assert.ok(islands > 100, `${islands} island pixels in ${compared} pictures (the comparison is not only of empty masks)`);
  assert.equal(hullArea(Int32Array.from([0, 1, 10, 11]), 10), 4);
});

test('chestFigures: exactly the previous code, on random lungs and phantoms', () => {
  const rng = new Rng(19);
  const same = (a: ChestFigures, b: ChestFigures, what: string) => assert.deepEqual(a, b, what);
  for (const [W, H] of [[16, 16], [64, 48], [256, 200]]) for (let k = 0; k < 5; k++) { const seg = blobSeg(rng, W, H); same(chestFigures(seg), oldChestFigures(seg), `${W}x${H} #${k}`); }
  for (const [size, opacity] of [[300, false], [384, true]] as const) { const seg = segmentLungs(lungPhantom(size, opacity)); same(chestFigures(seg), oldChestFigures(seg), `phantom ${size}`); }
});
