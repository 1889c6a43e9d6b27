/**
 * An upper bound on the grey of healthy, aerated lung, read from the lung's own darkest pixels: the 0 anchor of the
 * calibrated involvement scale (involvement.ts) when the lung's darkest decile is itself diseased. Pure arithmetic,
 * the same in Node and the browser; it reads nothing outside the lung mask.
 *
 * Why: the scale's 0 is the lung's darkest decile, taken to be healthy parenchyma (about -870 HU). When nearly all
 * of the lung is ground glass there is no healthy decile, the decile IS ground glass, and the slice reads as clear.
 * The lung's darkest pixels are still air or healthy lung where any is left: airways (-1000 HU) and the aerated
 * lung between the patches, both darker than any parenchyma, healthy lung at most about 130 HU above air. The top
 * anchor (the lung's brightest percentile) is taken as soft-tissue density (about +40 HU), 1040 HU above air, so a
 * grey 130 / 1040 of the way from the darkest pixels to it is an upper bound on healthy lung. Where healthy lung is
 * left its decile lies below the bound and nothing changes; when none is left and no airway shows, the darkest
 * pixels are ground glass too and nothing can be done (the bound then lies above the decile).
 *
 * Noise: the darkest 0.5% of single pixels on a noisy slice are noise, far below the lung's true darkest level (at
 * 12 grey levels of noise the raw bound fell below the decile on 79 of 179 CT-MD slices). So the dark level is read
 * on 3 x 3 means of lung pixels whose whole 3 x 3 lies in the lung (noise / 3), which keeps airways and aerated
 * patches at least 3 analysis px (about 4 mm) across.
 */
import { histogramQuantile } from './histogram.js';
import type { Window } from './morphology.js';

/** Physical levels the bound is built from (HU; not fitted). */
export const HEALTHY_ANCHOR = {
  /** Air in the airways. */
  air: -1000,
  /** What the top anchor stands for: soft tissue, blood. */
  softTissue: 40,
  /** How far above air healthy aerated lung lies at most (healthy parenchyma about -900 to -850 HU). */
  healthyAboveAir: 130,
  /** Share of the lung's 3 x 3 means that is its dark level: airways and aerated lung at least a few px across. */
  darkQuantile: 0.005,
} as const;

/** The bound's place between the dark level (0) and the top anchor (1): 130 / 1040 = 0.125. */
export const HEALTHY_SHARE = HEALTHY_ANCHOR.healthyAboveAir / (HEALTHY_ANCHOR.softTissue - HEALTHY_ANCHOR.air);

/**
 * The dark level of a lung: the darkQuantile of the means of 3 x 3 neighbourhoods lying wholly in it (labels
 * non-zero), over the box; null when fewer than 16 such neighbourhoods exist.
 */
export function lungDarkLevel(grey: Uint8Array, labels: Uint8Array, W: number, box: Window): number | null {
  const H = grey.length / W;
  const hist = new Float64Array(256);
  let n = 0;
  for (let y = Math.max(box.y0, 1); y < Math.min(box.y1, H - 1); y++) {
    for (let x = Math.max(box.x0, 1), i = y * W + x; x < Math.min(box.x1, W - 1); x++, i++) {
      if (!labels[i]) continue;
      let s = 0, whole = true;
      for (let dy = -W; dy <= W && whole; dy += W) {
        for (let dx = -1; dx <= 1; dx++) {
          if (!labels[i + dy + dx]) { whole = false; break; }
          s += grey[i + dy + dx];
        }
      }
      if (whole) { hist[Math.round(s / 9)]++; n++; }
    }
  }
  return n >= 16 ? histogramQuantile(hist, n, HEALTHY_ANCHOR.darkQuantile) : null;
}

/** The upper bound on healthy lung's grey: HEALTHY_SHARE of the way from the dark level to the top anchor. */
export const healthyBound = (dark: number, top: number): number => dark + HEALTHY_SHARE * (top - dark);

/**
 * The involvement scale's 0 anchor: the lung's darkest decile, or the healthy bound when that is lower (a lung
 * whose darkest decile is diseased); the decile when the dark level cannot be read.
 */
export const healthyAnchor = (decile: number, top: number, dark: number | null): number =>
  dark === null ? decile : Math.min(decile, healthyBound(dark, top));
