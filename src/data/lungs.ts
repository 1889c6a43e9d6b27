/**
 * TEMPORARY crude lung segmentation with the final API (replaced by the seg branch). Otsu threshold, dark
 * components not touching the border, the two largest, holes filled.
 */
import type { GreyImage } from '../types.js';
import { resample } from './working-image.js';

export const LUNGS_VERSION = 'lungs-v0';
export const ANALYSIS_SIDE = 256;
export interface Box { x0: number; y0: number; x1: number; y1: number }
export interface LungQuality { areaFraction: number; components: number; balance: number }
export interface LungSegmentation {
  analysis: GreyImage; scale: number; labels: Uint8Array; body: Uint8Array; box: Box | null;
  quality: LungQuality; found: boolean; reason?: string;
}
export interface SegmentOptions { hu?: { slope: number; intercept: number } }

function otsu(d: Uint8Array): number {
  const h = new Float64Array(256);
  for (const v of d) h[v]++;
  let sum = 0; for (let i = 0; i < 256; i++) sum += i * h[i];
  let wB = 0, sB = 0, best = 0, t = 128;
  for (let i = 0; i < 256; i++) {
    wB += h[i]; if (!wB) continue; const wF = d.length - wB; if (!wF) break;
    sB += i * h[i]; const mB = sB / wB, mF = (sum - sB) / wF; const v = wB * wF * (mB - mF) ** 2;
    if (v > best) { best = v; t = i; }
  }
  return t;
}

function components(bin: Uint8Array, W: number, H: number): { lab: Int32Array; sizes: number[]; border: boolean[] } {
  const lab = new Int32Array(W * H).fill(-1);
  const sizes: number[] = []; const border: boolean[] = [];
  const stack: number[] = [];
  for (let s = 0; s < W * H; s++) {
    if (!bin[s] || lab[s] >= 0) continue;
    const id = sizes.length; sizes.push(0); border.push(false);
    lab[s] = id; stack.push(s);
    while (stack.length) {
      const p = stack.pop()!; sizes[id]++;
      const x = p % W, y = (p / W) | 0;
      if (x === 0 || y === 0 || x === W - 1 || y === H - 1) border[id] = true;
      const nb = [x > 0 ? p - 1 : -1, x < W - 1 ? p + 1 : -1, y > 0 ? p - W : -1, y < H - 1 ? p + W : -1];
      for (const q of nb) if (q >= 0 && bin[q] && lab[q] < 0) { lab[q] = id; stack.push(q); }
    }
  }
  return { lab, sizes, border };
}

export function segmentLungs(img: GreyImage, opts: SegmentOptions = {}): LungSegmentation {
  const s = ANALYSIS_SIDE / Math.max(img.width, img.height);
  const W = Math.max(1, Math.round(img.width * s)), H = Math.max(1, Math.round(img.height * s));
  const analysis = resample(img, { x0: 0, y0: 0, w: img.width, h: img.height }, W, H);
  const d = analysis.data;
  let t = otsu(d);
  if (opts.hu) t = Math.round((-400 - opts.hu.intercept) / opts.hu.slope);
  const dark = new Uint8Array(W * H);
  for (let i = 0; i < d.length; i++) dark[i] = d[i] < t ? 1 : 0;
  const { lab, sizes, border } = components(dark, W, H);
  const cand = sizes.map((n, i) => ({ n, i })).filter((c) => !border[c.i] && c.n > 0.01 * W * H).sort((a, b) => b.n - a.n).slice(0, 2);
  const labels = new Uint8Array(W * H);
  const body = new Uint8Array(W * H);
  for (let i = 0; i < d.length; i++) body[i] = dark[i] && border[lab[i]] ? 0 : 1;
  let box: Box | null = null;
  const cx = cand.map((c) => { let sx = 0; for (let i = 0; i < d.length; i++) if (lab[i] === c.i) sx += i % W; return sx / c.n; });
  const order = cand.length === 2 && cx[0] > cx[1] ? [1, 0] : [0, 1];
  cand.forEach((c, k) => { const l = order.indexOf(k) + 1; for (let i = 0; i < d.length; i++) if (lab[i] === c.i) labels[i] = l; });
  // fill holes: non-lung regions not connected to border inside the box
  const non = new Uint8Array(W * H); for (let i = 0; i < d.length; i++) non[i] = labels[i] ? 0 : 1;
  const cc = components(non, W, H);
  for (let i = 0; i < d.length; i++) if (!labels[i] && !cc.border[cc.lab[i]]) labels[i] = 1;
  let area = 0;
  for (let i = 0; i < d.length; i++) if (labels[i]) {
    area++; const x = i % W, y = (i / W) | 0;
    box = box ? { x0: Math.min(box.x0, x), y0: Math.min(box.y0, y), x1: Math.max(box.x1, x + 1), y1: Math.max(box.y1, y + 1) } : { x0: x, y0: y, x1: x + 1, y1: y + 1 };
  }
  const found = area > 0.03 * W * H;
  return {
    analysis, scale: W / img.width, labels, body, box,
    quality: { areaFraction: area / (W * H), components: cand.length, balance: cand.length === 2 ? cand[1].n / cand[0].n : 0 },
    found, ...(found ? {} : { reason: 'no dark region enclosed by tissue' }),
  };
}

export function lungOutline(seg: LungSegmentation): Uint8Array {
  const { width: W, height: H } = seg.analysis;
  const out = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const i = y * W + x; if (!seg.labels[i]) continue;
    if (x === 0 || y === 0 || x === W - 1 || y === H - 1 || !seg.labels[i - 1] || !seg.labels[i + 1] || !seg.labels[i - W] || !seg.labels[i + W]) out[i] = 1;
  }
  return out;
}
