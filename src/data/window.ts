/**
 * The grey-level window that turns CT values (Hounsfield units) into the 8-bit grey the model sees. One
 * formula for every window, so that a DICOM slice and a PNG exported with the same window agree.
 */
import type { HuMapping } from '../types.js';

/** A display window in the image's own units (HU for CT): `level` is the centre, `width` the span. */
export interface LungWindow {
  width: number;
  level: number;
}

/**
 * The usual lung window (width 1500 HU, level -600 HU): air (-1000) is near black, lung parenchyma
 * (-900..-500) spreads over the mid greys and soft tissue (+40) is near white, like the slices in COVID-CT.
 */
export const DEFAULT_LUNG_WINDOW: Readonly<LungWindow> = Object.freeze({ width: 1500, level: -600 });

/** What is wrong with a window given by a user, or null when it can be used. */
export function lungWindowProblem(w: { width: unknown; level: unknown }): string | null {
  if (typeof w.width !== 'number' || !Number.isFinite(w.width)) return `the window width must be a finite number, got ${String(w.width)}`;
  if (typeof w.level !== 'number' || !Number.isFinite(w.level)) return `the window level must be a finite number, got ${String(w.level)}`;
  if (w.width <= 0) return `the window width must be greater than 0, got ${w.width}`;
  return null;
}

/**
 * Maps a value to 0..255 with a linear window: `round(255 * clamp((v - (level - width/2)) / width, 0, 1))`.
 * So level - width/2 and below is 0, level + width/2 and above is 255 and the level itself is 128 (127.5
 * rounded up). This is the plain linear window, not DICOM's VOI LUT formula (which shifts by half a unit and
 * uses width - 1): the difference is under one grey level for CT-sized windows.
 */
export function windowValue(v: number, w: LungWindow): number {
  const t = (v - (w.level - w.width / 2)) / w.width;
  return t <= 0 ? 0 : t >= 1 ? 255 : Math.round(t * 255);
}

/** The HU of each grey level of a window (grey 0 at level - width/2, 255 at level + width/2). */
export function huOfWindow(w: LungWindow): HuMapping {
  return { slope: w.width / 255, intercept: w.level - w.width / 2 };
}
