/**
 * "Does this picture's display window show the lungs?", asked of 8-bit pictures whose lungs were found (a DICOM's
 * window is checked in Hounsfield units before segmentation: lungs.ts `windowHidesLungs`). Pure arithmetic on the
 * segmentation's analysis image, the same in Node and in the browser; nothing fitted, no label used.
 *
 * A soft-tissue (mediastinal) window, about level 40 and width 400 HU, starts near -160 HU: every aerated lung pixel
 * (about -850 HU) and every ground-glass pixel (-700 to -300 HU) is clipped to the picture's black, so the findings
 * the reading measures cannot be seen, and the slice would be read as a clean lung. Two figures tell that window
 * from any lung window, by where each window puts the lung and the soft tissue:
 *
 *   - lungAtFloor: the share of lung pixels within a few grey levels of the picture's black (its 1st percentile;
 *     `floorTolerance`, `floorShare`). A lung window starts at or below -1000 HU (level -600 / width 1500: -1350),
 *     so aerated lung sits a third of the range above black and only air pockets reach it; a soft-tissue window
 *     clips all of it;
 *   - tissueLevel: where the median of the soft tissue around the lungs sits between the picture's black and its
 *     white (its 99.9 percentile: bone, contrast-filled vessels), 0 to 1. A lung window ends near soft tissue
 *     (level -600 / width 1500: +150 HU), so muscle, fat and blood sit at 0.85-1 of its range; a soft-tissue window
 *     is centred on them (0.25-0.7).
 *
 * A picture is refused when most of its lung is at black AND its soft tissue is mid-grey. Either alone is not
 * enough: a narrow lung window (level -500 / width 800) also puts much of a healthy lung at black, but clips soft
 * tissue to white. The limits and their measurements on every real slice we have: docs/window-check.md.
 */
import type { LungSegmentation } from './lungs.js';
import { histogramQuantile } from './histogram.js';

export const WINDOW_LIMITS = Object.freeze({
  /**
   * A lung pixel counts as clipped within this many grey levels, or this share of the picture's grey range, above
   * its black (JPEG and resampling ring around a clipped region; a dimmed export narrows the range).
   */
  floorTolerance: 4,
  floorShare: 0.04,
  /** Refused only when more than this share of the lung is at black... */
  maxLungAtFloor: 0.65,
  /** ...and the soft tissue's median sits below this share of the picture's grey range. */
  minTissueLevel: 0.75,
});

/** The two figures (NaN when there is no lung or no tissue to measure: then nothing is refused). */
export interface WindowFigures {
  lungAtFloor: number;
  tissueLevel: number;
}

export interface WindowCheck {
  figures: WindowFigures;
  /** Present when the window hides the lungs: the reason the user sees. */
  refusal?: string;
}

/** The figures of one segmentation: lung pixels are labels > 0, tissue is body outside the lungs at or above its threshold. */
export function windowFigures(seg: LungSegmentation): WindowFigures {
  const { data } = seg.analysis;
  const { labels, body } = seg;
  const t = seg.threshold ?? 128;
  const all = new Float64Array(256), tissue = new Float64Array(256), lung = new Float64Array(256);
  let nLung = 0, nTissue = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    all[v]++;
    if (labels[i]) { lung[v]++; nLung++; } else if (body[i] && v >= t) { tissue[v]++; nTissue++; }
  }
  const black = histogramQuantile(all, data.length, 0.01), white = histogramQuantile(all, data.length, 0.999);
  let atFloor = 0;
  const top = black + Math.max(WINDOW_LIMITS.floorTolerance, WINDOW_LIMITS.floorShare * (white - black));
  for (let v = 0; v <= Math.min(255, top); v++) atFloor += lung[v];
  return {
    lungAtFloor: nLung ? atFloor / nLung : NaN,
    tissueLevel: nTissue && white > black ? (histogramQuantile(tissue, nTissue, 0.5) - black) / (white - black) : NaN,
  };
}

const pct = (x: number) => `${Math.round(100 * x)}%`;

/** The check of a segmentation whose lungs were found (8-bit pictures; a DICOM in HU is checked by its window). */
export function checkWindow(seg: LungSegmentation): WindowCheck {
  const figures = windowFigures(seg);
  const L = WINDOW_LIMITS;
  // NaN compares false: nothing to measure never refuses.
  if (figures.lungAtFloor > L.maxLungAtFloor && figures.tissueLevel < L.minTissueLevel) {
    return {
      figures,
      refusal: `the lungs are black (${pct(figures.lungAtFloor)} of them at the picture's darkest grey) while soft tissue is mid-grey: ` +
        'a soft-tissue (mediastinal) window, which hides ground glass and the lung itself; export the slice in a lung window (such as level -600, width 1500 HU)',
    };
  }
  return { figures };
}
