/** Involvement candidates measured by bench/degrade.bench.ts (docs/robust-involvement.md). */
import { readableSlice } from '../src/data/polarity.js';
import type { GreyImage } from '../src/types.js';
import { findLungs, lungInvolvement, INVOLVEMENT_OPTIONS, type InvolvementOptions, type LungFindings } from '../src/data/involvement.js';
import { segmentLungs, type LungSegmentation } from '../src/data/lungs.js';
import { dilate, erode } from '../src/data/morphology.js';
import { gaussianBlur, gaussianKernel } from '../src/data/band-limit.js';
import { edgeBlur } from '../src/data/edge-blur.js';

/** Gaussian smoothing of data restricted to mask (normalised convolution): outside pixels never leak in. */
export function maskedSmooth(data: ArrayLike<number>, mask: Uint8Array, W: number, H: number, sigma: number): Float64Array {
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) / 2;
  const num = new Float64Array(W * H), den = new Float64Array(W * H);
  const tn = new Float64Array(W * H), td = new Float64Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    let s = 0, w = 0;
    for (let i = -r; i <= r; i++) {
      const xx = x + i; if (xx < 0 || xx >= W) continue;
      const j = y * W + xx; if (!mask[j]) continue;
      s += k[i + r] * data[j]; w += k[i + r];
    }
    tn[y * W + x] = s; td[y * W + x] = w;
  }
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    let s = 0, w = 0;
    for (let i = -r; i <= r; i++) {
      const yy = y + i; if (yy < 0 || yy >= H) continue;
      const j = yy * W + x;
      s += k[i + r] * tn[j]; w += k[i + r] * td[j];
    }
    num[y * W + x] = s; den[y * W + x] = w;
  }
  const out = new Float64Array(W * H);
  for (let i = 0; i < out.length; i++) out[i] = den[i] > 0 ? num[i] / den[i] : 0;
  return out;
}

function percentileOf(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 1e-9))];
}

export interface CandidateOptions {
  /** Smoothing (analysis px) of the lung before its anchors are taken; 0 = none (shipped). */
  anchorSigma: number;
  lowP: number;
  highP: number;
  /** Threshold on the scale (0 = low anchor, 1 = high anchor). */
  involved: number;
  consolidation: number;
  vesselRadius: number;
  /** Opening radius grows by this many px per px of estimated edge blur above blur0 (0 = fixed radius). */
  adaptiveK: number;
  blur0: number;
  /** Bring the slice to this estimated edge blur (0 = off) before anchors and threshold; b = est^2 gain per added sigma^2. */
  targetBlur: number;
  blurGain: number;
}
export const SHIPPED_OPTIONS: CandidateOptions = {
  anchorSigma: 0, lowP: 0.1, highP: 0.99, involved: 0.3, consolidation: 0.65, vesselRadius: 1.5, adaptiveK: 0, blur0: 0.77, targetBlur: 0, blurGain: 0.7,
};

export function anchorsOf(seg: LungSegmentation, o: CandidateOptions): { low: number; high: number } | null {
  const { width: W, height: H, data } = seg.analysis;
  const lung = new Uint8Array(W * H);
  for (let i = 0; i < lung.length; i++) lung[i] = seg.labels[i] ? 1 : 0;
  const src: ArrayLike<number> = o.anchorSigma > 0 ? maskedSmooth(data, lung, W, H, o.anchorSigma) : data;
  const v: number[] = [];
  for (let i = 0; i < lung.length; i++) if (lung[i]) v.push(src[i]);
  if (v.length < 16) return null;
  const low = percentileOf(v, o.lowP), high = percentileOf(v, o.highP);
  return high - low < 16 ? null : { low, high };
}

export function candidateFindings(img: GreyImage, o: CandidateOptions): LungFindings {
  let seg = segmentLungs(img);
  const none = { found: seg.found, ...(seg.reason ? { reason: seg.reason } : {}), involvement: null, consolidation: null, lungPixels: null };
  if (!seg.found) return none;
  let radius = o.vesselRadius;
  if (o.adaptiveK || o.targetBlur) {
    const e = edgeBlur(seg);
    if (e && o.targetBlur) {
      const add = Math.sqrt(Math.max(0, (o.targetBlur ** 2 - e.sigma ** 2) / o.blurGain));
      if (add > 0.05) seg = { ...seg, analysis: gaussianBlur(seg.analysis, add) };
    } else if (e && o.adaptiveK < 0) radius += -o.adaptiveK * Math.max(0, e.sigma - o.blur0);
    // adaptiveK > 0: per px of added blur in true units, sqrt((e^2 - e0^2) / b).
    else if (e) radius += o.adaptiveK * Math.sqrt(Math.max(0, (e.sigma ** 2 - o.blur0 ** 2) / o.blurGain));
  }
  const a = anchorsOf(seg, o);
  if (!a) return none;
  const { width: W, height: H, data } = seg.analysis;
  const lung = new Uint8Array(W * H);
  for (let i = 0; i < lung.length; i++) lung[i] = seg.labels[i] ? 1 : 0;
  const core = erode(lung, W, H, 2);
  const lo = a.low + o.involved * (a.high - a.low), hi = a.low + o.consolidation * (a.high - a.low);
  const mask = new Uint8Array(W * H);
  let n = 0;
  for (let i = 0; i < mask.length; i++) if (core[i]) { n++; if (data[i] >= lo) mask[i] = 1; }
  if (!n) return none;
  const opened = dilate(erode(mask, W, H, radius), W, H, radius);
  let inv = 0, cons = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i] && opened[i]) { inv++; if (data[i] >= hi) cons++; }
  return { found: true, involvement: inv / n, consolidation: cons / n, lungPixels: n };
}

const opts = (o: Partial<CandidateOptions>): CandidateOptions => ({ ...SHIPPED_OPTIONS, ...o });
export const CANDIDATES: Record<string, (img: GreyImage) => LungFindings> = {
  // As prepareSlice: the polarity and orientation stages, then the lungs.
  shipped: (img) => { const up = readableSlice(img); return findLungs(up.image, up.seg).findings; },
  // involvement-v3in, the former shipped involvement (fixed opening radius 1.5 px).
  v3: (img) => candidateFindings(img, SHIPPED_OPTIONS),
  // The shipped pipeline with the parts left out as not lung switched off (docs/healthy-involvement.md).
  'no-hilar': withOptions({ hilarTubes: false }),
  'no-strip': withOptions({ stripDomeVessels: false }),
  'v5domes': withOptions({ hilarTubes: false, stripDomeVessels: false }),
  // The 8-bit scale's 0 at the darkest decile only, as before involvement-v7airway (docs/diffuse-ground-glass.md).
  'no-airway': withOptions({ airwayAnchor: false }),
};
/** What predict does, with involvement measured under other InvolvementOptions (the segmentation and checks as shipped). */
function withOptions(o: Partial<InvolvementOptions>): (img: GreyImage) => LungFindings {
  return (img) => {
    const up = readableSlice(img);
    const { seg, findings } = findLungs(up.image, up.seg);
    if (!seg.found) return findings;
    const inv = lungInvolvement(seg, up.image.hu, { ...INVOLVEMENT_OPTIONS, ...o });
    return { ...findings, involvement: inv?.fraction ?? null, consolidation: inv?.consolidation ?? null, lungPixels: inv?.lungPixels ?? null };
  };
}
/** Named option sets, added on the command line: "s2:anchorSigma=2,involved=0.3". */
export function addCandidate(spec: string): string {
  const [name, rest] = spec.split(':');
  const o: Partial<CandidateOptions> = {};
  for (const kv of (rest ?? '').split(',').filter(Boolean)) { const [k, v] = kv.split('='); (o as Record<string, number>)[k] = Number(v); }
  const full = opts(o);
  CANDIDATES[name] = (img) => candidateFindings(img, full);
  return name;
}


/**
 * `name[:option=0|1,...];...` -> named InvolvementOptions, each from the shipped ones with the options given set
 * (e.g. `shipped;no-airway:airwayAnchor=0`); an unknown option is an error naming the known ones.
 */
export function involvementOptionCandidates(specs: string): { name: string; o: InvolvementOptions }[] {
  return specs.split(';').map((spec) => {
    const [name, rest] = spec.split(':');
    const o: InvolvementOptions = { ...INVOLVEMENT_OPTIONS };
    for (const kv of (rest ?? '').split(',').filter(Boolean)) {
      const [k, v] = kv.split('=');
      if (!(k in o)) throw new Error(`unknown option ${k}; known: ${Object.keys(o).join(', ')}`);
      (o as unknown as Record<string, boolean>)[k] = v !== '0' && v !== 'false';
    }
    return { name, o };
  });
}
