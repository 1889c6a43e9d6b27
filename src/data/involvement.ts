/**
 * Lung involvement: the share of the lung whose attenuation is raised (ground glass or consolidation), the
 * first question a radiologist answers. Pure arithmetic on a lung segmentation, the same in Node and the
 * browser. Its thresholds come from physical definitions, never from COVID-CT's labels:
 *
 * - With Hounsfield units (a DICOM through a known window): involved when HU >= -700, the lower bound of ground
 *   glass in quantitative CT (ground glass about -700 to -300 HU, consolidation above -300 HU).
 * - On an 8-bit image of unknown window: a scale calibrated inside the lungs, on which their darkest decile is 0
 *   and their brightest percentile (vessels: blood, soft-tissue density) is 1 (healthy parenchyma about -870 HU, soft tissue about +40 HU),
 *   and involved when above 0.3 (about -600 HU on a typical slice); consolidation above 0.65 (about -280 HU).
 *   When the darkest decile is itself diseased (ground glass over nearly all of the lung), 0 is instead an upper
 *   bound on healthy lung read from the lung's darkest pixels, airways and what aerated lung is left
 *   (healthy-anchor.ts; docs/diffuse-ground-glass.md).
 *
 * The lung mask is eroded by 2 analysis pixels first, so that the partial-volume rim where lung meets chest wall
 * or mediastinum is not counted as disease, and the involved mask is opened (vesselRadius) so that vessels,
 * thin and dense, are not either. A blurred slice (a halved export, a soft kernel, a photo of a screen) spreads
 * its vessels and fine texture into blobs wider than that opening, which read as ground glass (+0.03 of the lung
 * on CT-MD's normal slices at 1.2 px of blur): the opening grows with the blur the slice carries beyond a sharp
 * one, measured on its own lung border (edge-blur.ts). docs/robust-involvement.md.
 * Solid, convex islands the lung mask encloses (the liver's and heart's domes near the diaphragm, hilar vessels in
 * section; a dome also once the vessels attached to it are stripped), and solid tubes no wider than a lobar artery
 * that leave the mediastinum at the hila, are left out as not lung (enclosed-tissue.ts; docs/healthy-involvement.md).
 */
import type { GreyImage, HuMapping, Refusal } from '../types.js';
import { LUNG_BAND_MARGIN, LUNG_BAND_ROWS, LUNG_BANDS, segmentLungs, SQUEEZED_REASON, windowHidesLungs, type LungSegmentation } from './lungs.js';
import { ballHalfWidths, dilate, erode, grownBox, rowBands, unitsWithin, type Window } from './morphology.js';
import { checkChest, type ChestCheck } from './chest-check.js';
import { colourRefusal } from './colour.js';
import { checkWindow } from './window-check.js';
import { checkPlane } from './reformat-check.js';
import { addedBlur, edgeBlur } from './edge-blur.js';
import { addedInteriorBlur, interiorBlur } from './interior-blur.js';
import { histogramQuantile } from './histogram.js';
import { enclosedTissue, ENCLOSED_TISSUE, solidLevel } from './enclosed-tissue.js';
import { healthyAnchor, lungDarkLevel } from './healthy-anchor.js';

export const INVOLVEMENT_VERSION = 'involvement-v7airway';

/** Thresholds of the two scales (documented above; not fitted). */
export const INVOLVEMENT_THRESHOLDS = {
  calibrated: { involved: 0.3, consolidation: 0.65 },
  hu: { involved: -700, consolidation: -300 },
} as const;


/**
 * Radius (analysis pixels) of the opening that removes vessels from the involved mask: at 256 px for a ~350 mm
 * field of view a pixel is ~1.4 mm, so structures under ~4 mm across (segmental vessels, fissures) go, and
 * patches of ground glass or consolidation stay.
 */
export const VESSEL_RADIUS = 1.5;

/**
 * Extra opening radius (analysis px) per px of Gaussian blur the slice carries beyond a sharp one. Not fitted to
 * labels: chosen among 1, 1.25, 1.5, 2 by how little involvement moves when slices are blurred, halved or made
 * photo-like (no label needed). On COVID-CT's train slices the shift is about halved from 1.5 up; CT-MD's copies
 * are over-corrected at 2 (docs/robust-involvement.md, "Choice of the constant").
 */
export const VESSEL_RADIUS_PER_BLUR = 1.5;

/** The opening radius for a slice carrying `blur` px of Gaussian blur beyond a sharp one. */
export const vesselRadius = (blur: number): number => VESSEL_RADIUS + VESSEL_RADIUS_PER_BLUR * Math.max(0, blur);


/** Switches of the parts of the measure left out as not lung (each can be turned off to measure what it does). */
export interface InvolvementOptions {
  /** Organ domes with vessels attached: their convexity read again once the vessels are stripped (enclosed-tissue.ts). */
  stripDomeVessels: boolean;
  /** Solid tubes leaving the mediastinum (hilar vessels and bronchi) left out like islands (enclosed-tissue.ts). */
  hilarTubes: boolean;
  /** 8-bit scale: 0 at most the healthy bound read from the lung's darkest pixels, for diffuse disease (healthy-anchor.ts). */
  airwayAnchor: boolean;
}
/** What predict, the page and every bench use. */
export const INVOLVEMENT_OPTIONS: Readonly<InvolvementOptions> = Object.freeze({ stripDomeVessels: true, hilarTubes: true, airwayAnchor: true });

/** Grey levels of the two anchors of the calibrated scale. */
export interface IntensityReference {
  /** 10th percentile of the lung's grey levels (healthy, aerated parenchyma). */
  lungLow: number;
  /**
   * 99th percentile of the lung's own grey levels: vessels and any consolidation, i.e. blood and soft-tissue
   * density, taken inside the lungs so that nothing outside them (chest wall, table, arrows, image corners, another
   * window's mediastinum) moves the scale. (A band 2-12 px outside the lungs moved with the outside-noise audit;
   * docs/lungs-design.md.)
   */
  softTissue: number;
}

export interface Involvement {
  /** Share of the (eroded) lung that is involved, 0..1. */
  fraction: number;
  /** Share that is consolidation (a part of `fraction`). */
  consolidation: number;
  /** Lung pixels it was measured on (analysis pixels; weights a scan's mean). */
  lungPixels: number;
  /** 1 where involved, on the analysis grid. */
  mask: Uint8Array;
  /** 1 on the lung pixels the fraction was measured on (`lungPixels` of them), on the analysis grid. */
  measured: Uint8Array;
  /** 1 on the organ domes the lung mask encloses and the solid tubes at the hila (enclosed-tissue.ts), left out of the lung here; null when none. */
  islands: Uint8Array | null;
  scale: 'hu' | 'calibrated';
  /** Blur beyond a sharp slice (analysis px, edge-blur.ts) and the vessel opening's radius it gave. */
  blur: number;
  vesselRadius: number;
}

/**
 * The anchors per segmentation, computed once: lungInvolvement and the lungs-only view (lung-view.ts) both ask
 * for them. A segmentation is never modified after segmentLungs returns it.
 */
const references = new WeakMap<LungSegmentation, IntensityReference | null>();

/** The two anchors of the calibrated scale, or null when the lungs are missing or show no contrast. */
export function intensityReference(seg: LungSegmentation): IntensityReference | null {
  let ref = references.get(seg);
  if (ref === undefined) {
    ref = computeIntensityReference(seg);
    references.set(seg, ref);
  }
  return ref ? { ...ref } : null;
}

/**
 * The same segmentation read on a given calibration instead of its own (a shallow copy; the original keeps its
 * own). For the outside-the-lungs decomposition (bench/outside-decompose.ts): a variant's lungs on the original
 * slice's scale.
 */
export function withIntensityReference(seg: LungSegmentation, ref: IntensityReference | null): LungSegmentation {
  const copy = { ...seg };
  references.set(copy, ref ? { ...ref } : null);
  return copy;
}

/** The two anchors, read from the analysis pixels under the lung labels: their darkest decile and brightest percentile. */
function computeIntensityReference(seg: LungSegmentation): IntensityReference | null {
  const { hist, n } = lungHistogram(seg);
  return anchorsOf(hist, n);
}

/** The darkest decile and brightest percentile of a histogram of n lung greys; null for too few or no contrast. */
function anchorsOf(hist: Float64Array, n: number): IntensityReference | null {
  if (n < 16) return null;
  const lungLow = histogramQuantile(hist, n, 0.1);
  const softTissue = histogramQuantile(hist, n, 0.99);
  if (softTissue - lungLow < 16) return null;
  return { lungLow, softTissue };
}

/**
 * The calibrated scale's anchors for lungs cut out onto black, as involvement reads them: without the cut's dark
 * edge. A lung pixel on the cut (a 4-neighbour off the lungs) that is darker than the lungs' median mixes lung with
 * the painted black, wherever the cut was blurred or downscaled; those pixels pulled the darkest decile down, and
 * with it the whole scale, so that the small lungs of the apex and base read up to 78% involved (CT-MD cut out and
 * halved to 128 px). A brighter pixel on the cut is lung against the chest wall it was cut from, as in a slice
 * with its body, and stays. The lungs-only view keeps intensityReference. Null as intensityReference is.
 */
function cutOutReference(seg: LungSegmentation): IntensityReference | null {
  const { analysis, labels } = seg;
  const { width: W, height: H, data } = analysis;
  const all = lungHistogram(seg);
  if (all.n < 16) return null;
  const median = histogramQuantile(all.hist, all.n, 0.5);
  const box = seg.box ?? { x0: 0, y0: 0, x1: W, y1: H };
  const hist = new Float64Array(256);
  let n = 0;
  for (let y = box.y0; y < box.y1; y++) {
    for (let x = box.x0; x < box.x1; x++) {
      const i = y * W + x;
      if (!labels[i]) continue;
      const onCut = x === 0 || y === 0 || x === W - 1 || y === H - 1 || !labels[i - 1] || !labels[i + 1] || !labels[i - W] || !labels[i + W];
      if (onCut && data[i] < median) continue;
      hist[data[i]]++;
      n++;
    }
  }
  return n < 16 ? intensityReference(seg) : anchorsOf(hist, n);
}

/** The histogram of the analysis greys under the lung labels, and their count. */
function lungHistogram(seg: LungSegmentation): { hist: Float64Array; n: number } {
  const { analysis, labels } = seg;
  const W = analysis.width;
  // Every lung pixel is inside seg.box (the whole image when there is none): only it is read.
  const box = seg.box ?? { x0: 0, y0: 0, x1: W, y1: analysis.height };
  const hist = new Float64Array(256);
  let n = 0;
  for (let y = box.y0; y < box.y1; y++) {
    for (let i = y * W + box.x0, end = y * W + box.x1; i < end; i++) if (labels[i]) { hist[analysis.data[i]]++; n++; }
  }
  return { hist, n };
}

/** The lungs' darkest decile (grey), as the calibrated scale reads it; in HU slices, the grey of -1000 HU (air). */
function lungLowOf(seg: LungSegmentation, hu?: HuMapping): number {
  if (hu) return (-1000 - hu.intercept) / hu.slope;
  return intensityReference(seg)?.lungLow ?? 0;
}

/** An islands window placed on the W x H analysis grid (zero elsewhere). */
function onGrid({ island, x0, y0, w, h }: IslandsWindow, W: number, H: number): Uint8Array {
  const out = new Uint8Array(W * H);
  for (let y = 0; y < h; y++) out.set(island.subarray(y * w, (y + 1) * w), (y0 + y) * W + x0);
  return out;
}

/** Islands found over a window of the analysis grid: the w x h mask at (x0, y0). */
interface IslandsWindow { island: Uint8Array; x0: number; y0: number; w: number; h: number }

/** islandsWindow's copies of the labels and the grey levels (fully written before they are read), reused. */
let windowBuf = new Uint8Array(0);

/**
 * The solid islands the lung mask encloses (enclosed-tissue.ts), on a window only (the lungs' box grown by the
 * ring): the w x h mask at (x0, y0) of the analysis grid, or null when no tissue surrounds the lungs. Nothing outside
 * the window is an island.
 */
function islandsWindow(seg: LungSegmentation, hu: HuMapping | undefined, options: Readonly<InvolvementOptions>): IslandsWindow | null {
  const { width: W, height: H, data } = seg.analysis;
  // Everything is read within the lungs' box grown by the ring (the same result as on the whole picture, whose
  // edge the window keeps where the box reaches it), at a fraction of the cost.
  const { x0, y0, x1, y1 } = grownBox(seg.box ?? { x0: 0, y0: 0, x1: W, y1: H }, ENCLOSED_TISSUE.ring[1] + 1, W, H);
  const w = x1 - x0, h = y1 - y0;
  if (windowBuf.length < 2 * w * h) windowBuf = new Uint8Array(2 * w * h);
  const lung = windowBuf.subarray(0, w * h), grey = windowBuf.subarray(w * h, 2 * w * h);
  for (let y = 0; y < h; y++) {
    lung.set(seg.labels.subarray((y0 + y) * W + x0, (y0 + y) * W + x1), y * w);
    grey.set(data.subarray((y0 + y) * W + x0, (y0 + y) * W + x1), y * w);
  }
  const low = lungLowOf(seg, hu);
  const solid = seg.cutOut ? cutOutSolidLevel(seg, hu) : solidLevel(lung, grey, w, h, low);
  if (solid === null) return null;
  return { island: enclosedTissue(lung, grey, w, h, solid, { stripVessels: options.stripDomeVessels, hilarTubes: options.hilarTubes }), x0, y0, w, h };
}

/**
 * The solid level of lungs cut out onto black (lungs.ts's cutOut): there is no tissue beside them to read, only the
 * black the picture's maker painted, so the tissue's grey is read on the lungs' own brightest pixels, the largest
 * vessels at the hila (blood, as dense as the chest wall), at the same share of the way from their darkest decile
 * (ENCLOSED_TISSUE.solid). The top thousandth, not the top percentile (the calibrated scale's anchor): a patch of
 * ground glass can be the brightest percentile of a lung with few vessels, and would then be taken for a dome.
 */
function cutOutSolidLevel(seg: LungSegmentation, hu: HuMapping | undefined): number | null {
  const ref = hu ? null : intensityReference(seg);
  if (!ref) return null;
  const { hist, n } = lungHistogram(seg);
  const tissue = histogramQuantile(hist, n, CUT_OUT_TISSUE_QUANTILE);
  return tissue > ref.lungLow ? ref.lungLow + ENCLOSED_TISSUE.solid * (tissue - ref.lungLow) : null;
}
/** The share of a cut-out lung's pixels that are at least as bright as the tissue's grey (cutOutSolidLevel). */
const CUT_OUT_TISSUE_QUANTILE = 0.999;

/**
 * The lungs eroded by 2 px (as erode(labels, W, H, 2) gives: the image's edge counts as lung, but no pixel within
 * 2 px of it stays), read from the row distances to non-lung of the lungs' bands (lungs.ts' LUNG_BANDS, which the
 * border refinement's last step has usually made already; the blur reading reads them next). The ball of 2 px is
 * half-widths 2, 1, 0 on rows 0, 1, 2 either side. Written into out (W x H) over the box; out is zero elsewhere.
 */
export function lungCore(seg: LungSegmentation, box: Window, out: Uint8Array): Uint8Array {
  const { width: W, height: H } = seg.analysis;
  const labels = seg.labels;
  out.fill(0);
  const win = grownBox(box, LUNG_BAND_MARGIN, W, H);
  const { toUnset: T, ww, pad } = rowBands(labels, W, win, LUNG_BAND_ROWS, LUNG_BANDS);
  const [k0, k1, k2] = CORE_BALL;
  for (let y = Math.max(box.y0, 2); y < Math.min(box.y1, H - 2); y++) {
    for (let x = Math.max(box.x0, 2), i = y * W + x, c = pad + (y - win.y0) * ww + x - win.x0; x < Math.min(box.x1, W - 2); x++, i++, c++) {
      // No non-lung pixel within the ball: along each of its rows the nearest one is farther than the half-width.
      out[i] = labels[i] !== 0 && T[c] > k0 && T[c - ww] > k1 && T[c + ww] > k1 && T[c - 2 * ww] > k2 && T[c + 2 * ww] > k2 ? 1 : 0;
    }
  }
  return out;
}
const CORE_BALL = ballHalfWidths(unitsWithin(2));
/** Whether any element is non-zero (a plain loop: some() with a callback per element cost more than the rest). */
function anySet(a: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return true;
  return false;
}
/** lungCore's output, reused (lungInvolvement reads it and drops it). */
let coreBuf = new Uint8Array(0);

/**
 * The blur a slice carries beyond a sharp one (analysis px), read on the lungs' border (edge-blur.ts); where the
 * border shows none (lungs cut out onto black: a painted, sharp step whatever the slice's blur), read inside the
 * lungs instead (interior-blur.ts). Without that, a blurred or downscaled cut-out read as sharp, and its blurred
 * vessels as ground glass (docs/lungs-on-black.md).
 */
export function sliceBlur(seg: LungSegmentation): number {
  const edge = edgeBlur(seg);
  return edge ? addedBlur(edge) : addedInteriorBlur(interiorBlur(seg));
}

/** The involvement of one slice, or null when it cannot be measured (no lungs, or no contrast to calibrate). */
export function lungInvolvement(seg: LungSegmentation, hu?: HuMapping, options: Readonly<InvolvementOptions> = INVOLVEMENT_OPTIONS): Involvement | null {
  if (!seg.found) return null;
  const { width: W, height: H, data } = seg.analysis;
  // erode reads any non-zero label as lung. Every lung pixel is inside seg.box: the loops below visit it only.
  const box = seg.box ?? { x0: 0, y0: 0, x1: W, y1: H };
  if (coreBuf.length !== W * H) coreBuf = new Uint8Array(W * H);
  const core = lungCore(seg, box, coreBuf);
  let lo: number, hi: number;
  if (hu) {
    // Grey levels at the HU thresholds (grey = (HU - intercept) / slope).
    lo = (INVOLVEMENT_THRESHOLDS.hu.involved - hu.intercept) / hu.slope;
    hi = (INVOLVEMENT_THRESHOLDS.hu.consolidation - hu.intercept) / hu.slope;
  } else {
    const ref = seg.cutOut ? cutOutReference(seg) : intensityReference(seg);
    if (!ref) return null;
    // Only this measure's scale moves (its 0 for diffuse disease; a cut-out's anchors): the lungs-only view
    // (lung-view.ts) keeps intensityReference's, so the model sees the same pixels.
    const low = options.airwayAnchor ? healthyAnchor(ref.lungLow, ref.softTissue, lungDarkLevel(data, seg.labels, W, box)) : ref.lungLow;
    const span = ref.softTissue - low;
    lo = low + INVOLVEMENT_THRESHOLDS.calibrated.involved * span;
    hi = low + INVOLVEMENT_THRESHOLDS.calibrated.consolidation * span;
  }
  // Solid organ domes the lung mask encloses (enclosed-tissue.ts) are not lung: left out, with their rim.
  // (On the islands' window: nothing outside it is an island or within the rim of one.)
  const isl = islandsWindow(seg, hu, options);
  const out = isl && anySet(isl.island) ? dilate(isl.island, isl.w, isl.h, ENCLOSED_TISSUE.rim) : null;
  const ox = isl?.x0 ?? 0, oy = isl?.y0 ?? 0, ow = isl?.w ?? 0;
  const mask = new Uint8Array(W * H), measured = new Uint8Array(W * H);
  let n = 0, inv = 0, cons = 0;
  for (let y = box.y0; y < box.y1; y++) {
    for (let i = y * W + box.x0, end = y * W + box.x1, o = (y - oy) * ow + box.x0 - ox; i < end; i++, o++) {
      if (!core[i] || out?.[o]) continue;
      n++;
      measured[i] = 1;
      if (data[i] >= lo) { mask[i] = 1; inv++; if (data[i] >= hi) cons++; }
    }
  }
  if (n === 0) return null;
  // Vessels are raised attenuation too, but thin: an opening removes what is narrower than twice the radius,
  // which grows with the slice's blur (a blurred vessel is wider).
  const blur = sliceBlur(seg);
  const radius = vesselRadius(blur);
  const opened = dilate(erode(mask, W, H, radius, box), W, H, radius, box);
  inv = 0;
  cons = 0;
  for (let y = box.y0; y < box.y1; y++) {
    for (let i = y * W + box.x0, end = y * W + box.x1; i < end; i++) {
      mask[i] = mask[i] && opened[i] ? 1 : 0;
      if (mask[i]) { inv++; if (data[i] >= hi) cons++; }
    }
  }
  const islands = out && isl ? onGrid(isl, W, H) : null;
  return { fraction: inv / n, consolidation: cons / n, lungPixels: n, mask, measured, islands, scale: hu ? 'hu' : 'calibrated', blur, vesselRadius: radius };
}

/** What the lung stages found in one slice, reduced to what a reading needs. */
export interface LungFindings {
  /** A plausible pair of lungs was found, the picture has a CT slice's texture (chest-check.ts) and is grey (colour.ts). */
  found: boolean;
  /** What kind of refusal, when !found. */
  refusal?: Refusal;
  /** Why not, in words, when !found. */
  reason?: string;
  /** Involved share of the lung; null when it could not be measured. */
  involvement: number | null;
  consolidation: number | null;
  /** Lung pixels the involvement was measured on (its weight in a scan's involvement); null when not measured. */
  lungPixels: number | null;
}

/**
 * Segmentation and involvement of one slice (in HU when the image carries its HU mapping), and whether it is a
 * chest CT slice: a grey picture (colour.ts, when the decoder measured its colour), lungs found (lungs.ts) and
 * pixels with a CT slice's texture (chest-check.ts). findings.found is false, with the reason (the first of these
 * that fails), when any fails; seg and involvement are the segmentation's own either way, so a slice that passes
 * reads exactly as without the checks.
 */
export function findLungs(img: GreyImage, ready?: LungSegmentation): { seg: LungSegmentation; involvement: Involvement | null; findings: LungFindings; chest: ChestCheck | null } {
  // `ready`: the segmentation of this very image with these options, when the orientation stage made it already.
  const seg = ready ?? segmentLungs(img, img.hu ? { hu: img.hu } : {});
  const involvement = lungInvolvement(seg, img.hu);
  const chest = seg.found ? checkChest(seg) : null;
  const refused = refusalOf(img, seg, chest);
  return {
    seg, involvement, chest,
    findings: {
      found: refused === undefined, ...(refused ? { refusal: refused.kind, reason: refused.reason } : {}), involvement: involvement?.fraction ?? null,
      consolidation: involvement?.consolidation ?? null, lungPixels: involvement?.lungPixels ?? null,
    },
  };
}

/**
 * Why the slice is not read (its kind and its words), the first check that fails: colour, then lungs, then the plane
 * (reformat-check.ts: a coronal or sagittal reformat), then texture, then the display window (window-check.ts); undefined when all pass. Without lungs, a picture in Hounsfield units is
 * still a CT slice (a CT DICOM through a known window), so its reason says that it holds no air-filled lung (the
 * neck and the abdomen at the ends of a chest series, or lungs without air) rather than leaving the user to wonder
 * whether the scan is a CT at all.
 */
function refusalOf(img: GreyImage, seg: LungSegmentation, chest: ChestCheck | null): { kind: Refusal; reason: string } | undefined {
  const colour = colourRefusal(img.colourShare);
  if (colour) return { kind: 'not-ct', reason: `not like a CT slice: ${colour}` };
  if (!seg.found) {
    // A window that hides the lungs keeps the segmentation's reason, which names the window and the one to use.
    if (img.hu && windowHidesLungs(img.hu)) return { kind: 'window', reason: seg.reason ?? 'the DICOM window hides the lung tissue' };
    // CT numbers squeezed into a few greys: the export's window is the problem, and the reason names the one to use.
    if (seg.reason === SQUEEZED_REASON) return { kind: 'window', reason: SQUEEZED_REASON };
    return {
      kind: 'no-lungs',
      reason: img.hu ? 'a CT slice with no air-filled lung found: above or below the lungs, or lungs without air' : seg.reason ?? 'no plausible pair of lungs found',
    };
  }
  // The plane before the texture and the window: a reformat's interpolated rows can make its edges mostly
  // horizontal (the texture check's reason would then blame the picture, not the plane), and a reformat in a
  // soft-tissue window is no use in a lung window either.
  const plane = checkPlane(seg);
  if (plane) return { kind: 'not-axial', reason: plane };
  if (chest?.refusal) return { kind: 'not-ct', reason: `not like a CT slice: ${chest.refusal}` };
  // A DICOM's window was checked in HU before segmenting; an 8-bit picture's window is read from its greys.
  const window = img.hu ? undefined : checkWindow(seg).refusal;
  return window ? { kind: 'window', reason: window } : undefined;
}

/** A scan's involvement: the slices' fractions averaged with weights by lung area (null when none measured). */
export function scanInvolvement(slices: readonly { fraction: number; lungPixels: number }[]): number | null {
  let w = 0, s = 0;
  for (const x of slices) { w += x.lungPixels; s += x.fraction * x.lungPixels; }
  return w > 0 ? s / w : null;
}
