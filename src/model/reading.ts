/**
 * How a slice is read, as a radiologist reads it (RSNA consensus on chest CT in COVID-19; MosMedData's CT-0..4):
 * first "is the lung involved?", then "is the pattern COVID-typical?". Pure and fixed by design, not fitted to
 * COVID-CT (whose slices all show diseased lungs, so it cannot teach the first question):
 *
 *   P(COVID) = P(involvement present) x P(COVID-typical pattern)
 *   P(involvement present) = 1 - exp(-involvement / scale), scale = 5% of the lung
 *
 * Why this form: a slice with no raised attenuation cannot show COVID pneumonia (P = 0); the measurement of a
 * healthy lung is not exactly 0 (partial volume, vessels the opening in involvement.ts leaves), so a few percent
 * is weak evidence, and past 10-15% of the lung disease is all but certain; and the gate keeps growing with the
 * extent instead of saturating at a cut, so that how much of the lung is involved still ranks slices. The
 * category calls a slice "negative for pneumonia" below P(involvement present) = 0.5, i.e. 3.5% of the lung.
 * (Compared on the CT-MD check with logistic gates at 1-2%: slice AUC 0.73-0.75 against 0.76 for this one;
 * docs/lungs-design.md. So that check is not fully independent of this choice.)
 * A slice with no plausible pair of lungs is NotCT, and so is one whose backbone features are far from the
 * training slices' when the model has that check (design.ood, ood.ts); its P is kept for research but it gets no
 * verdict.
 */
import type { Label, Refusal } from '../types.js';
import type { LungFindings } from '../data/involvement.js';
import type { OodDesign } from './ood.js';

export type { LungFindings, Refusal };

/**
 * What the user is shown instead of a verdict for a NotCT slice, by kind of refusal: the label stays NotCT (no
 * verdict either way), but a chest CT slice in a soft-tissue window is not "not a chest CT slice".
 */
export const REFUSAL_HEADINGS: Readonly<Record<Refusal, string>> = {
  'not-ct': 'not a chest CT slice',
  'no-lungs': 'no lungs found',
  window: 'lungs not readable in this window',
  'not-axial': 'not an axial slice',
};

/** A slice's verdict: COVID, NonCOVID, or not a chest CT slice at all. */
export type Verdict = Label | 'NotCT';

/** RSNA-style category of a slice that was read (a NotCT slice has none: its `refusal` says why). */
export type Category = 'negative for pneumonia' | 'typical' | 'indeterminate' | 'atypical';

export interface ReadingDesign {
  /** Gate on the involved fraction of the lung: P(involvement present) = 1 - exp(-involvement / scale). */
  gate: { scale: number };
  /** The pattern model's own threshold (chosen on val, where every slice is diseased) and the band around it
   * that is called indeterminate rather than typical or atypical. */
  pattern: { threshold: number; band: number };
  /** The not-CT distance in backbone-feature space (ood.ts); absent = NotCT only when no lungs are found. */
  ood?: OodDesign;
}

export const DEFAULT_GATE = Object.freeze({ scale: 0.05 });

/**
 * P(involvement present) at which a slice stops being "negative for pneumonia". The design's decision threshold on
 * P is OPERATING_GATE x the pattern's threshold: the P of a slice that sits exactly at both cuts.
 */
export const OPERATING_GATE = 0.5;

export interface SliceReading {
  /** P(COVID) = gate x pattern for the lungs design; the pattern model's P for a whole-slice model. */
  probability: number;
  /** P(COVID-typical pattern) from the lungs-only model (whole-slice model: its P). */
  pattern: number;
  /** P(involvement present); null without a lungs design or without a measurement. */
  involvementPresent: number | null;
  involvement: number | null;
  /** Lung pixels the involvement was measured on: the slice's weight in its scan's involvement. */
  lungPixels: number | null;
  label: Verdict;
  category: Category | null;
  /** What kind of refusal, when NotCT. */
  refusal?: Refusal;
  /** Why the slice got NotCT, in words. */
  reason?: string;
  /** The slice's feature distance (ood.ts), when the design has one and it was measured. */
  featureDistance?: number;
}

/** A reading's refusal and reason as optional fields, to spread into an output row (nothing when read). */
export const refusalFields = (r: Pick<SliceReading, 'refusal' | 'reason'>): { refusal?: Refusal; reason?: string } =>
  ({ ...(r.refusal ? { refusal: r.refusal } : {}), ...(r.reason ? { reason: r.reason } : {}) });

export const gateOf = (involvement: number, gate: ReadingDesign['gate']): number => 1 - Math.exp(-Math.max(0, involvement) / gate.scale);

/**
 * The reading of one slice. Without a design (the whole-slice `official` model) P is the pattern model's and
 * the label its threshold's; involvement is still reported.
 */
export function readSlice(pattern: number, lungs: LungFindings, threshold: number, design?: ReadingDesign, featureDistance?: number): SliceReading {
  const { involvement, lungPixels } = lungs;
  if (!design) {
    return { probability: pattern, pattern, involvementPresent: null, involvement, lungPixels, label: pattern >= threshold ? 'COVID' : 'NonCOVID', category: null };
  }
  const present = involvement === null ? 0 : gateOf(involvement, design.gate);
  const probability = present * pattern;
  const dist = design.ood && featureDistance !== undefined ? { featureDistance } : {};
  const notCt = (refusal: Refusal, reason: string): SliceReading => ({ probability, pattern, involvementPresent: null, involvement, lungPixels, label: 'NotCT', category: null, refusal, reason, ...dist });
  if (!lungs.found) return notCt(lungs.refusal ?? 'no-lungs', lungs.reason ?? 'no plausible pair of lungs found');
  if (design.ood && featureDistance !== undefined && !(featureDistance <= design.ood.threshold)) {
    return notCt('not-ct', `unlike the chest CT slices the model was trained on (feature distance ${fmt(featureDistance)} > ${fmt(design.ood.threshold)})`);
  }
  const label: Verdict = probability >= threshold ? 'COVID' : 'NonCOVID';
  let category: Category;
  if (present < OPERATING_GATE) category = 'negative for pneumonia';
  else if (pattern >= design.pattern.threshold + design.pattern.band) category = 'typical';
  else if (pattern < design.pattern.threshold - design.pattern.band) category = 'atypical';
  else category = 'indeterminate';
  // The label is P's cut and the category the two questions' cuts: a small extent with a strongly typical pattern,
  // or a wide one with a pattern below the typical band, can carry P over the threshold. A COVID verdict beside
  // "negative for pneumonia" or "atypical" contradicts itself; such a slice is indeterminate (the reverse,
  // NonCOVID and typical, cannot happen: both cuts passed put P above OPERATING_GATE x the pattern's threshold).
  if (label === 'COVID' && (category === 'negative for pneumonia' || category === 'atypical')) category = 'indeterminate';
  return { probability, pattern, involvementPresent: present, involvement, lungPixels, label, category, ...dist };
}

const fmt = (x: number): string => (Number.isFinite(x) ? (x >= 100 ? Math.round(x).toString() : x.toPrecision(3)) : String(x));
