/**
 * "Is this a chest CT slice at all?", asked after the lungs are found (lungs.ts): a picture whose dark regions
 * passed as lungs is still refused when its pixels do not have the texture every CT slice has, whatever the
 * disease and whatever the level (apex, base, neck or abdomen). Pure arithmetic on the 256-px analysis image of
 * the segmentation, the same in Node and in the browser; nothing fitted, no label used.
 *
 * A CT slice is a reconstruction from noisy projections: every region carries fine grain (quantum noise,
 * vessels, trabecular bone), edges run in every direction (a body is round), and air-filled lungs are far darker
 * than the tissue around them compared with that grain. Drawings, icons, screenshots, text and gradients have
 * areas of one exact grey, no grain, or mostly horizontal and vertical edges; noise has grain as strong as any
 * contrast in it. A radiograph (a projection) shows lung fields far lighter than the air around the body, which an
 * aerated lung in a CT slice never is. Seven checks, each with the reason the user sees:
 *
 *   - axis-aligned edges: of the strong edges (a step of 0.3 x the lung-tissue contrast) around the lungs (their
 *     box grown by a quarter on each side), the share running horizontally or vertically > 0.5;
 *   - flat colour: of the pixels not at the picture's clipped extremes, the share whose 5x5 neighbourhood is one
 *     exact grey > 0.6, or > 0.4 with little grain in the tissue (< 1.2);
 *   - no grain: the tissue's grain (mean |pixel - its 3x3 mean|) < 0.3 grey levels (the lungs' own grain when there is
 *     no tissue: lungs cut out onto black, lungs.ts's cutOut; so too in the flat-colour and contrast checks);
 *   - noise: grain > 28 in the lungs or > 22 in the tissue;
 *   - no coarse structure: the variance of 16x16 block means < 0.2 of the pixels' variance (noise, fine patterns);
 *   - lungs as textured as they are dark: (tissue median - lung median) / the larger grain < 4.5 (lungs cut out onto
 *     black: their vessels, the brightest percentile, stand for the tissue);
 *   - projection: the lungs' 5th percentile above the picture's darkest grey > 0.65 of the tissue's median above it
 *     (docs/notct-rules3.md: real CT, its degraded copies and CT photographed in a viewer reach 0.53 at most).
 *
 * The limits lie outside the range of all 746 COVID-CT slices (train, val and test) and all 768 CT-MD PNGs, and of
 * 1550 of those slices made worse as exports can be (blur, downscaling, JPEG quality 30 and 10, 128 px, contrast
 * halved, gamma, rotation, nearest-neighbour upscaling): blur lowers the grain and JPEG makes flat blocks, so the
 * no-grain and flat-colour limits sit below and above what those did. A slice blurred harder than an export
 * should be (sigma 4 px) can be as smooth as a gradient and is refused, with a reason that says so
 * (docs/notct-structure.md, bench/notct-structure.ts).
 */
import type { LungSegmentation } from './lungs.js';
import { histogramQuantile } from './histogram.js';

/** The check's limits (docs/notct-structure.md says where each comes from). */
export const CHEST_LIMITS = Object.freeze({
  /**
   * A pixel is on a strong edge when its gradient (Sobel / 4, i.e. grey levels per 2 px as central differences)
   * exceeds this share of the lung-tissue contrast (at least minEdge grey levels); `edge` when there is no contrast.
   */
  edgeOfContrast: 0.3,
  minEdge: 12,
  edge: 40,
  /** An edge is axis-aligned when min(|gx|, |gy|) / max(|gx|, |gy|) is below this (about 6 degrees). */
  axisRatio: 0.1,
  maxAxisEdges: 0.5,
  /**
   * Edges are counted only within the lungs' box grown by this share of its size on each side (the chest wall
   * and the body's outline): a photo or screenshot of a CT viewer frames the slice with straight lines (the
   * image's border, toolbars) that are no part of the slice.
   */
  edgeMargin: 0.25,
  maxFlat: 0.6,
  /** Flat colour with little grain: both limits together. */
  maxFlatWithLowGrain: 0.4,
  lowGrain: 1.2,
  minTissueGrain: 0.3,
  maxLungGrain: 28,
  maxTissueGrain: 22,
  minContrastToGrain: 4.5,
  /** Block side (analysis pixels) and the smallest share of the variance in block means. */
  block: 16,
  minCoarse: 0.2,
  /**
   * The lungs' darkest twentieth (5th percentile) above the picture's darkest grey (0.5th percentile), as a share
   * of the tissue's median above it: at most this. Real CT reaches 0.53 (a very light lung window), its degraded
   * copies 0.51; a radiograph's lung field 0.5-0.8 (docs/notct-rules3.md).
   */
  maxLungFloor: 0.65,
});

/** The figures the check reads, all on the analysis image. NaN when there is nothing to measure. */
export interface ChestFigures {
  /** Of the pixels on a strong edge around the lungs (edgeMargin), the share whose edge is horizontal or vertical. */
  axisEdges: number;
  /**
   * Of the pixels more than 8 grey levels inside the picture's 0.5-99.5 percentile range (clipped air and tissue),
   * the share whose 5x5 neighbourhood is one exact grey.
   */
  flat: number;
  /** Mean |pixel - mean of its 3x3 neighbourhood| in the lungs (eroded by 1 px). */
  lungGrain: number;
  /**
   * The same in the tissue: body pixels outside the lungs at or above the segmentation's threshold, leaving out the
   * body's outline (a pixel with a neighbour outside the body).
   */
  tissueGrain: number;
  /**
   * Median grey of the tissue minus that of the lungs; for lungs cut out onto black (no tissue), the lungs' brightest
   * percentile (their vessels) minus their median.
   */
  contrast: number;
  /**
   * Variance of the means of 16x16 blocks / variance of the pixels: how much of the picture's contrast is
   * structure larger than a few pixels (about 1 for a body with lungs, near 0 for noise or a fine pattern).
   */
  coarse: number;
  /**
   * (lungs' 5th percentile - picture's 0.5th percentile) / (tissue median - picture's 0.5th percentile): how far the
   * darkest aerated lung lies above the darkest grey of the picture (the air outside the body, when it is shown).
   * Aerated lung is air with a little tissue (about -850 HU against -1000), so in a CT slice its darkest part is
   * near the darkest grey; in a projection (a radiograph) every ray through a lung field also crosses the chest
   * wall, so even the darkest lung is far lighter than the air beside the body. NaN when there is nothing to measure.
   */
  lungFloor: number;
}

export interface ChestCheck {
  figures: ChestFigures;
  /** Why the picture is not a chest CT slice; absent when it passes. */
  refusal?: string;
}

const median = (hist: Float64Array, n: number): number => histogramQuantile(hist, n, 0.5);

/**
 * Variance of the B x B block means over the variance of the pixels (NaN for a flat picture); `all` is the
 * picture's histogram (its sums are the pixels' sums, exactly: integers).
 */
function coarseShare(data: Uint8Array, w: number, h: number, B: number, all: Float64Array): number {
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

/** Scratch array, reused from call to call (every call writes what it reads first). */
let buffers: { n: number; row3: Int32Array } | null = null;
function scratch(n: number) {
  if (!buffers || buffers.n < n) buffers = { n, row3: new Int32Array(n) };
  return buffers;
}

/** S / 9 for every sum S of 9 grey levels (the 3x3 mean): the same doubles as the division, read from a table. */
const NINTHS = Float64Array.from({ length: 9 * 255 + 1 }, (_, sum) => sum / 9);
/** The picture's four histograms by x mod 4 (chestFigures), reused. */
const histScratch = new Int32Array(1024);

/** The figures of one segmentation (found or not; the masks may be empty). */
export function chestFigures(seg: LungSegmentation): ChestFigures {
  const { width: w, height: h, data } = seg.analysis;
  const n = w * h;
  const t = seg.threshold ?? 128;
  const { row3 } = scratch(n);
  const labels = seg.labels, body = seg.body, cutOut = seg.cutOut === true;
  const lungHist = new Float64Array(256), tissueHist = new Float64Array(256);
  let nLung = 0, nTissue = 0;
  // Tissue on the image's edge (the lungs' core never is: it is the lungs eroded by 1 px, see below).
  for (let i = 0; i < n; i++) {
    const x = i % w;
    if (i >= w && i < n - w && x !== 0 && x !== w - 1) { i += w - 3; continue; }
    if (body[i] && !labels[i] && data[i] >= t) { tissueHist[data[i]]++; nTissue++; }
  }
  // Row sums of 3 once, so that the 3x3 mean costs three reads per pixel; the picture's histogram in the same pass.
  // (Counted in four integer histograms by x mod 4, so that runs of one grey, the black around a body, do not make
  // each count wait on the one before; their sums are the same counts.)
  const counts = histScratch;
  counts.fill(0);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    counts[data[row]]++;
    if (w > 1) counts[data[row + w - 1]]++;
    for (let x = 1, i = row + 1; x < w - 1; x++, i++) { const v = data[i]; counts[((x & 3) << 8) | v]++; row3[i] = data[i - 1] + v + data[i + 1]; }
  }
  const all = new Float64Array(256);
  for (let v = 0; v < 256; v++) all[v] = counts[v] + counts[256 | v] + counts[512 | v] + counts[768 | v];
  let lungHp = 0, lungHpN = 0, tisHp = 0, tisHpN = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1, i = y * w + 1; x < w - 1; x++, i++) {
      const v = data[i];
      // The lungs' core: eroded by 1 px (a lung pixel whose 4 neighbours are lung), since the rim where lung meets
      // tissue is partial volume, neither.
      if (labels[i] && labels[i - 1] && labels[i + 1] && labels[i - w] && labels[i + w]) {
        lungHist[v]++; nLung++;
        // Lungs cut out onto black: not where the 3x3 mean takes in the black (a diagonal neighbour), a step of a
        // hundred grey levels rather than grain, which would lend a flat shape on black the grain of a scan.
        if (!cutOut || (labels[i - w - 1] && labels[i - w + 1] && labels[i + w - 1] && labels[i + w + 1])) {
          lungHp += Math.abs(v - NINTHS[row3[i - w] + row3[i] + row3[i + w]]); lungHpN++;
        }
      } else if (body[i] && !labels[i] && v >= t) {
        tissueHist[v]++; nTissue++;
        // Not on the body's outline: there the 3x3 mean takes in the air outside, a step rather than grain, and a
        // picture cut to the lungs on black is nearly all such outline.
        if (body[i - w - 1] && body[i - w] && body[i - w + 1] && body[i - 1] && body[i + 1] && body[i + w - 1] &&
          body[i + w] && body[i + w + 1]) {
          tisHp += Math.abs(v - NINTHS[row3[i - w] + row3[i] + row3[i + w]]); tisHpN++;
        }
      }
    }
  }
  const tissueMedian = median(tissueHist, nTissue);
  // Lungs cut out onto black (lungs.ts's cutOut) have no tissue around them: their contrast is that of the vessels
  // in them (blood, as dense as soft tissue: the lungs' brightest percentile) against their parenchyma, which a
  // drawing, an icon or noise on black lacks (no contrast, or none beyond its own grain).
  const contrast = (seg.cutOut ? histogramQuantile(lungHist, nLung, VESSEL_QUANTILE) : tissueMedian) - median(lungHist, nLung);
  // A strong edge is a step of a good part of the lung-tissue contrast, so that a washed-out export (contrast
  // halved) keeps the same edges; 40 grey levels when there is no contrast to measure.
  const edgeT = contrast > 0 ? Math.max(CHEST_LIMITS.minEdge, CHEST_LIMITS.edgeOfContrast * contrast) : CHEST_LIMITS.edge;
  const edge2 = edgeT * edgeT, ratio = CHEST_LIMITS.axisRatio;
  // The picture's own darkest and brightest greys stand for clipped air and clipped tissue (a lung window clips
  // soft tissue to its brightest grey, and a washed-out export moves that grey to mid-grey): never "flat colour".
  // (Percentiles 0.5 and 99.5 rather than the extremes: resampling overshoots a clipped grey at its edges.)
  const darkest = histogramQuantile(all, n, 0.005);
  const flatLo = darkest + 8, flatHi = histogramQuantile(all, n, 0.995) - 8;
  let mid = 0, flat = 0, edges = 0, axis = 0;
  for (let y = 2; y < h - 2; y++) {
    for (let x = 2, i = y * w + 2; x < w - 2; x++, i++) {
      const v = data[i];
      // Flat: the 5x5 neighbourhood is one exact grey. 5x5 rather than 3x3, so that a CT slice whose grain was
      // squeezed into a few grey levels (low contrast, JPEG) does not count: only areas of one colour do.
      if (v > flatLo && v < flatHi) {
        mid++;
        let same = true;
        for (let dy = -2 * w; dy <= 2 * w && same; dy += w) for (let dx = -2; dx <= 2; dx++) if (data[i + dy + dx] !== v) { same = false; break; }
        if (same) flat++;
      }
    }
  }
  // Sobel, only around the lungs: its smoothing across the edge keeps the staircase of a drawn diagonal or curve
  // from reading as horizontal and vertical steps. In integers, 4x the gradient (gx = Gx / 4): the tests below are
  // those on gx, gy scaled by 16 and by 4 (powers of two: exact), so the counts are the same.
  const box = seg.box ?? { x0: 0, y0: 0, x1: w, y1: h };
  const mx = CHEST_LIMITS.edgeMargin * (box.x1 - box.x0), my = CHEST_LIMITS.edgeMargin * (box.y1 - box.y0);
  const ex0 = box.x0 - mx, ex1 = box.x1 + mx, ey0 = box.y0 - my, ey1 = box.y1 + my;
  const edge16 = 16 * edge2;
  const xa = Math.max(1, Math.ceil(ex0)), xb = Math.min(w - 1, Math.ceil(ex1));
  for (let y = Math.max(1, Math.ceil(ey0)); y < Math.min(h - 1, Math.ceil(ey1)); y++) {
    if (xa >= xb) break;
    const up = (y - 1) * w, row = y * w, down = (y + 1) * w;
    // Column sums (1, 2, 1) down the three rows at x - 1 and x; the one at x + 1 is read per pixel.
    let cPrev = data[up + xa - 1] + 2 * data[row + xa - 1] + data[down + xa - 1];
    let cHere = data[up + xa] + 2 * data[row + xa] + data[down + xa];
    for (let x = xa; x < xb; x++) {
      const cNext = data[up + x + 1] + 2 * data[row + x + 1] + data[down + x + 1];
      const gx = cNext - cPrev;
      const gy = data[down + x - 1] + 2 * data[down + x] + data[down + x + 1] - data[up + x - 1] - 2 * data[up + x] - data[up + x + 1];
      cPrev = cHere; cHere = cNext;
      if (gx * gx + gy * gy > edge16) {
        edges++;
        const ax = gx < 0 ? -gx : gx, ay = gy < 0 ? -gy : gy;
        if ((ax < ay ? ax : ay) < ratio * (ax < ay ? ay : ax)) axis++;
      }
    }
  }
  return {
    coarse: coarseShare(data, w, h, CHEST_LIMITS.block, all),
    axisEdges: edges ? axis / edges : 0,
    flat: mid ? flat / mid : 0,
    lungGrain: lungHpN ? lungHp / lungHpN : NaN,
    tissueGrain: tisHpN ? tisHp / tisHpN : NaN,
    contrast,
    lungFloor: nLung && nTissue && tissueMedian > darkest ? (histogramQuantile(lungHist, nLung, 0.05) - darkest) / (tissueMedian - darkest) : NaN,
  };
}

/** The share of a cut-out lung's pixels at or above its vessels' grey: its brightest percentile (see contrast). */
const VESSEL_QUANTILE = 0.99;

/**
 * The grain of the picture's bright regions: the tissue's, or with no tissue to read (lungs cut out onto black) the
 * lungs' own, so that a picture without tissue must still show a scanner's grain somewhere.
 */
const brightGrain = (f: ChestFigures): number => (Number.isNaN(f.tissueGrain) ? f.lungGrain : f.tissueGrain);

const pct = (x: number) => `${Math.round(100 * x)}%`;
const num = (x: number) => x.toFixed(x < 10 ? 2 : 1);
const L = CHEST_LIMITS;

/** One check: its name (for reports), whether it refuses, and the reason the user sees. */
export interface ChestRule {
  name: 'axis-edges' | 'flat-colour' | 'no-grain' | 'noise' | 'fine-only' | 'contrast' | 'projection';
  refuses: (f: ChestFigures) => boolean;
  reason: (f: ChestFigures) => string;
}

/** The checks, in the order their reasons are given (the first that refuses names the reason). */
export const CHEST_RULES: readonly ChestRule[] = Object.freeze([
  {
    name: 'axis-edges',
    refuses: (f) => f.axisEdges > L.maxAxisEdges,
    reason: (f) => `mostly horizontal and vertical edges (${pct(f.axisEdges)}), as in text, a table, a screenshot or a drawing`,
  },
  {
    name: 'flat-colour',
    refuses: (f) => f.flat > L.maxFlat || (f.flat > L.maxFlatWithLowGrain && brightGrain(f) < L.lowGrain),
    reason: (f) => `areas of one exact grey (${pct(f.flat)} of the picture), as in a drawing, an icon or a screenshot, without a scanner's image noise`,
  },
  {
    name: 'no-grain',
    refuses: (f) => brightGrain(f) < L.minTissueGrain,
    reason: (f) => `smooth as a drawing, a gradient or a very blurred picture: no image noise or fine structure in the bright regions (grain ${num(brightGrain(f))})`,
  },
  {
    name: 'noise',
    refuses: (f) => f.lungGrain > L.maxLungGrain || f.tissueGrain > L.maxTissueGrain,
    reason: (f) => `grainy far beyond a CT slice (grain ${num(Math.max(f.lungGrain, f.tissueGrain))}), as in noise`,
  },
  {
    name: 'fine-only',
    refuses: (f) => f.coarse < L.minCoarse,
    reason: (f) => `no structure larger than a few pixels (${pct(f.coarse)} of the contrast), as in noise or a fine pattern, unlike a body with lungs`,
  },
  {
    name: 'contrast',
    // NaN (no lung core or no tissue to measure) never refuses.
    // (The bright regions' grain: Math.max of a NaN tissue grain would be NaN, and lungs on black never refused.)
    refuses: (f) => f.contrast / Math.max(0.5, brightGrain(f), f.lungGrain) < L.minContrastToGrain,
    // With no tissue (lungs cut out onto black) the contrast is the vessels' against the parenchyma: said so.
    reason: (f) => (Number.isNaN(f.tissueGrain)
      ? `the regions taken for lungs show nothing brighter than their own texture (contrast ${num(f.contrast)}), unlike lungs with their vessels`
      : `the dark regions are hardly darker than their own texture (contrast ${num(f.contrast)}), unlike air-filled lungs in tissue`),
  },
  {
    name: 'projection',
    // NaN never refuses.
    refuses: (f) => f.lungFloor > L.maxLungFloor,
    reason: (f) => `the lung fields are far lighter than the air around the body (${pct(f.lungFloor)} of the way to tissue), as in a radiograph (a projection), not as in a CT slice, where aerated lung is nearly as dark as air`,
  },
]);

/** The check of a segmentation whose lungs were found: its figures and, when a rule refuses, the first one's reason. */
export function checkChest(seg: LungSegmentation): ChestCheck {
  const figures = chestFigures(seg);
  const rule = CHEST_RULES.find((r) => r.refuses(figures));
  return rule ? { figures, refusal: rule.reason(figures) } : { figures };
}
