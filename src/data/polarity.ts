/**
 * Polarity of an 8-bit CT picture: a negative (some viewers' invert key: air white, bone black) is read as its
 * inverse, 255 - v, which is exact, so the reading is then the original's bit for bit (docs/negatives.md). Pure
 * TypeScript, no I/O: the same module runs on the server and in the page.
 *
 * Air outside the body and air in the lungs have one density, the lowest of a CT slice: in any window they are its
 * darkest pixels, and bone its brightest. In a negative they are the brightest, so the lung stage finds no lungs
 * where they are (what it finds is dark soft tissue). The stage compares the two polarities and inverts only when
 * the picture as sent is implausible as a CT and its inverse is a plausible one:
 *
 *  1. As sent, no plausible pair of lungs in any arrangement (the orientation stage's segmentation, reused), and
 *     the picture's edge brighter than its dark class (air white where the frame cuts it). Cheap: no second
 *     segmentation for the other slices. A figure on a white page passes this too; the next step sorts it out.
 *  2. The inverse, through the orientation stage (so a turned negative is also put upright), gives a plausible
 *     pair of lungs side by side, a clean surround (the air outside its body dark) and solid bone in the midline
 *     strip between the lungs (the vertebral body: the brightest tissue, in front of the lungs or behind). A figure
 *     on a white page inverted is a black page round a white panel whose "body" holds no such lungs, spine and air.
 *
 * Unsure: as sent. A picture in Hounsfield units never: its grey-to-HU mapping is increasing (lungs.ts), so air is
 * at the bottom by construction (a CT DICOM's MONOCHROME1 only says how a viewer shows it: its HU are read as HU).
 */
import type { GreyImage } from '../types.js';
import { segmentLungs, type LungSegmentation } from './lungs.js';
import { fillFovPadding } from './fov-padding.js';
import { levelSlice, tiltField, tiltNote } from './tilt.js';
import { decideOrientation, orientImage, ORIENTATION_NOTES, plausiblePair, type Orientation, type OrientationDecision, type UprightSlice } from './orientation.js';

/** The picture as sent, or a negative (air white) that was read as its inverse. */
export type Polarity = 'as-sent' | 'negative';

/**
 * What the user is told when a negative was read as its inverse (the page, predict's table, explain). No
 * parentheses in it: the table and explain put the note in parentheses already.
 */
export const POLARITY_NOTE = 'it came as a negative, air white and bone black, and was read with air black';

/** The picture's negative: 255 - v (its own inverse, so exactly undone). */
export function invertImage(img: GreyImage): GreyImage {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = 255 - img.data[i];
  return { ...img, data: out };
}

/** Median grey of the analysis image's outermost rows and columns (the picture's edge). */
export function edgeMedian(seg: LungSegmentation): number {
  const { width: w, height: h, data } = seg.analysis;
  const hist = new Uint32Array(256);
  let n = 0;
  for (let x = 0; x < w; x++) { hist[data[x]]++; hist[data[(h - 1) * w + x]]++; n += 2; }
  for (let y = 1; y < h - 1; y++) { hist[data[y * w]]++; hist[data[y * w + w - 1]]++; n += 2; }
  let c = 0;
  for (let v = 0; v < 256; v++) { c += hist[v]; if (2 * c >= n) return v; }
  return 255;
}

/**
 * Step 1: could the picture as sent be a negative? It gave no plausible pair of lungs (side by side or stacked: a
 * pair of dark lungs in any arrangement is a slice with air dark), and its edge is on the bright side of its own
 * dark/bright split (air white at the frame).
 */
export function maybeNegative(seg: LungSegmentation): boolean {
  if (plausiblePair(seg)) return false;
  return seg.threshold !== undefined && edgeMedian(seg) >= seg.threshold;
}

/**
 * Step 2: is this orientation decision (made on the inverse) that of a CT slice? Its lungs are a plausible pair side
 * by side (as decided: as sent, or after the orientation stage turned it), the air around its body is dark, and
 * solid bone lies on the midline between the lungs (the spine cue was measured, whichever way it votes).
 */
export function plausibleCt(d: OrientationDecision): boolean {
  if (!d.cues || d.cues.spine === null || !d.cues.clean) return false;
  // A side-by-side pair the stage kept, or a turn it chose (its pair is side by side once turned).
  return d.orientation !== 'as-sent' || d.arrangement === 'side';
}

/** The polarity stage's answer: which picture to read, and the orientation stage's decision on it. */
export interface PolarityDecision {
  polarity: Polarity;
  /** The picture to bring upright: the input itself, or its inverse. */
  image: GreyImage;
  /** The orientation stage's decision on `image`. */
  orientation: OrientationDecision;
}

/**
 * Both stages' decisions on one picture: the orientation decision as sent, and, when step 1 says "maybe negative",
 * the inverse's; the inverse is kept when it is a plausible CT (step 2).
 */
export function decidePolarity(img: GreyImage, asSent: OrientationDecision = decideOrientation(img, img.hu ? { hu: img.hu } : {})): PolarityDecision {
  const kept: PolarityDecision = { polarity: 'as-sent', image: img, orientation: asSent };
  // HU: air is the bottom of the mapping by construction. Turned by the orientation stage: it found dark lungs.
  if (img.hu || asSent.orientation !== 'as-sent' || !asSent.seg || !maybeNegative(asSent.seg)) return kept;
  const inverse = invertImage(img);
  const d = decideOrientation(inverse);
  return plausibleCt(d) ? { polarity: 'negative', image: inverse, orientation: d } : kept;
}

/** A slice made ready for the lung stage: right way up, level and air black. */
export interface ReadableSlice extends UprightSlice {
  /** What the polarity stage did: 'negative' when the picture as sent was inverted (then turned by `orientation`). */
  polarity: Polarity;
  /**
   * Set when the upright slice's body was tilted in its picture by at least MIN_TILT_DEGREES and the slice was
   * turned level before it was read (tilt.ts): the tilt found, in degrees, clockwise positive (it was turned back by
   * -tilt). `image` is then the turned picture, of the same size.
   */
  tilt?: number;
}

/**
 * The polarity, orientation and tilt stages on one slice (what prepareSlice and the page's reading run): the slice
 * as sent (the same object) unless it is a negative, turned or tilted, or has a bright fill outside the scanner's
 * field (set to air); then its inverse, turned upright and level, with what was done. `seg`, the segmentation of
 * `image`, is always given (findLungs takes it instead of segmenting again).
 */
export function readableSlice(img: GreyImage): ReadableSlice {
  // A bright fill outside the scanner's field is air first (fov-padding.ts), or both polarities would see a frame.
  const { polarity, image, orientation: d } = decidePolarity(fillFovPadding(img));
  const upright = orientImage(image, d.orientation);
  const level = levelSlice(upright, d.seg ?? segmentLungs(upright, upright.hu ? { hu: upright.hu } : {}));
  return { image: level.image, orientation: d.orientation, polarity, seg: level.seg, ...tiltField(level.tilt) };
}

/**
 * What the user is told about a slice that was not read as sent (the page, predict's table, explain): the polarity
 * note, then the orientation note, then the tilt note, joined by "; ". Empty when it was read as sent.
 */
export function sliceNote(orientation: Orientation | undefined, polarity: Polarity | undefined, tilt?: number): string {
  const notes: string[] = [];
  if (polarity && polarity !== 'as-sent') notes.push(POLARITY_NOTE);
  if (orientation && orientation !== 'as-sent') notes.push(ORIENTATION_NOTES[orientation]);
  if (tilt !== undefined) notes.push(tiltNote(tilt));
  return notes.join('; ');
}
