/**
 * 16-bit grey pictures to the 8-bit grey the model sees. Pure arithmetic, the same on the server and in the page.
 *
 * A 16-bit grey PNG is either a picture for display (its values spread over the 16-bit range: an 8-bit picture
 * scaled up) or a file of CT numbers exported from a scanner or a research volume (values = HU + 1024, or HU + 32768
 * when signed values were shifted into the unsigned range; a few thousand distinct values at the bottom or in the
 * middle of the range). Scaled to 8 bits as a display picture (the top byte, libvips' way), CT numbers are black:
 * the lungs vanish and the slice would be refused as "not a chest CT". So:
 *
 *   - values spread over the range (0.1-99.9 percentile span >= NARROW_SPAN): the top byte, as before (and as libvips);
 *   - a narrow span that reads as CT numbers under one of the usual codings (checked by physics: a soft-tissue mode
 *     in -150..+150 HU, air or lung below -600 HU, almost nothing above +3100 HU): Hounsfield units through the lung
 *     window, with the HU of each grey level known, exactly as a CT DICOM is read;
 *   - any other narrow span: stretched linearly from its 0.1 to its 99.9 percentile.
 *
 * A signed 16-bit array saved as an unsigned PNG or TIFF (numpy's astype(uint16), PNG having no signed samples)
 * wraps its negative values to the top of the range: HU itself (air -1000 -> 64536), or HU + 1024 with the
 * scanner's padding outside its field of view (-2048 or -3024 HU -> 64512 or 63536). Its span then looks like a
 * display picture's. It is read as CT numbers when the 16 bits taken as two's complement are narrow, read as CT
 * numbers under one of the codings, and hold more distinct values than a scaled 8-bit picture can (256).
 */
import type { GreyImage } from '../types.js';
import { DEFAULT_LUNG_WINDOW, huOfWindow, windowValue, type LungWindow } from './window.js';

/** How the 16-bit values became grey levels. */
export type Grey16Mapping =
  | { kind: 'display' }
  /** wrapped: the values are a signed array stored unsigned (negatives wrapped to the top); HU = signed value - offset. */
  | { kind: 'ct numbers'; offset: number; window: LungWindow; wrapped?: true }
  | { kind: 'stretched'; low: number; high: number };

/** A span of values (0.1-99.9 percentile) below this is not a display picture: its top byte would be 32 grey levels at most. */
export const NARROW_SPAN = 8192;

/** Stored value = HU + offset: the two codings of CT numbers in unsigned 16-bit files. */
export const CT_NUMBER_OFFSETS: readonly number[] = Object.freeze([1024, 32768]);

/** The physical checks of a CT-number reading (HU). */
export const CT_NUMBER_CHECKS = Object.freeze({
  /** Soft tissue (fat -100, muscle +50, blood +40) holds at least this share of the pixels... */
  softLow: -150,
  softHigh: 150,
  minSoftShare: 0.05,
  /** ...and is the most common 20-HU bin above softSearchFrom HU (a lung-window picture saturates tissue at its top). */
  softSearchFrom: -600,
  modeBin: 20,
  /** Air or aerated lung (below -600 HU, padding outside the scanner's field included). */
  airBelow: -600,
  minAirShare: 0.02,
  /** Dense bone reaches +2000 HU, metal more; a CT slice has almost nothing above this. */
  implausibleAbove: 3100,
  maxImplausibleShare: 0.01,
});

/** Counts of each 16-bit value. */
function histogram16(values: ArrayLike<number>): Uint32Array {
  const h = new Uint32Array(65536);
  for (let i = 0; i < values.length; i++) h[values[i]]++;
  return h;
}

/** The value at quantile p (the smallest value whose cumulative count exceeds p x (n - 1)). */
function quantile16(h: Uint32Array, n: number, p: number): number {
  const target = p * (n - 1);
  let acc = 0;
  for (let v = 0; v < 65536; v++) {
    acc += h[v];
    if (acc > target) return v;
  }
  return 65535;
}

/** Pixels with stored values in [from, to] (clamped to 0..65535). */
function countIn(h: Uint32Array, from: number, to: number): number {
  let c = 0;
  for (let v = Math.max(0, Math.ceil(from)); v <= Math.min(65535, Math.floor(to)); v++) c += h[v];
  return c;
}

/** Whether the values read as CT numbers stored as HU + offset (CT_NUMBER_CHECKS). */
export function readsAsCtNumbers(h: Uint32Array, n: number, offset: number): boolean {
  const c = CT_NUMBER_CHECKS;
  if (n === 0) return false;
  if (countIn(h, offset + c.softLow, offset + c.softHigh) < c.minSoftShare * n) return false;
  if (countIn(h, 0, offset + c.airBelow - 1) < c.minAirShare * n) return false;
  if (countIn(h, offset + c.implausibleAbove + 1, 65535) > c.maxImplausibleShare * n) return false;
  // The tissue mode: the fullest modeBin-HU bin above softSearchFrom must lie in the soft-tissue band.
  let best = -1, bestAt = 0;
  for (let hu = c.softSearchFrom; hu <= c.implausibleAbove; hu += c.modeBin) {
    const k = countIn(h, offset + hu, offset + hu + c.modeBin - 1);
    if (k > best) { best = k; bestAt = hu; }
  }
  return bestAt >= c.softLow && bestAt + c.modeBin - 1 <= c.softHigh;
}

/**
 * The grey picture of 16-bit grey values (row-major, one sample per pixel) and how it was made (module comment).
 * For CT numbers the picture carries `hu`, so the lung stage reads Hounsfield units as for a CT DICOM.
 */
export function greyOf16(values: ArrayLike<number>, width: number, height: number, window: LungWindow = DEFAULT_LUNG_WINDOW): { image: GreyImage; mapping: Grey16Mapping } {
  const n = width * height;
  if (values.length !== n) throw new RangeError(`greyOf16: ${values.length} values for a ${width}x${height} picture`);
  const data = new Uint8Array(n);
  const h = histogram16(values);
  const low = n ? quantile16(h, n, 0.001) : 0;
  const high = n ? quantile16(h, n, 0.999) : 0;
  if (high - low >= NARROW_SPAN) {
    const offset = wrappedCtOffset(h, n);
    if (offset !== undefined) {
      // Flipping the top bit turns two's complement v into v + 32768: the signed value s reads as HU = s - offset.
      const lut = new Uint8Array(65536);
      for (let v = 0; v < 65536; v++) lut[v] = windowValue((v ^ 0x8000) - 32768 - offset, window);
      for (let i = 0; i < n; i++) data[i] = lut[values[i]];
      return { image: { width, height, data, hu: huOfWindow(window) }, mapping: { kind: 'ct numbers', offset, window, wrapped: true } };
    }
    for (let i = 0; i < n; i++) data[i] = values[i] >> 8;
    return { image: { width, height, data }, mapping: { kind: 'display' } };
  }
  // A narrow span lies within NARROW_SPAN of one offset at most, so at most one coding can pass.
  const offset = CT_NUMBER_OFFSETS.find((o) => readsAsCtNumbers(h, n, o));
  if (offset !== undefined) {
    // One lookup per stored value: the window of HU = value - offset.
    const lut = new Uint8Array(65536);
    for (let v = 0; v < 65536; v++) lut[v] = windowValue(v - offset, window);
    for (let i = 0; i < n; i++) data[i] = lut[values[i]];
    return { image: { width, height, data, hu: huOfWindow(window) }, mapping: { kind: 'ct numbers', offset, window } };
  }
  const span = high - low;
  for (let i = 0; i < n; i++) {
    const t = span > 0 ? (values[i] - low) / span : 0;
    data[i] = t <= 0 ? 0 : t >= 1 ? 255 : Math.round(t * 255);
  }
  return { image: { width, height, data }, mapping: { kind: 'stretched', low, high } };
}

/** Distinct values above which a picture cannot be an 8-bit one scaled to 16 bits. */
const SCALED_8BIT_VALUES = 256;

/**
 * The offset (0: HU itself, 1024: HU + 1024) under which wide-looking values read as a signed array of CT numbers
 * stored unsigned (module comment), or undefined.
 */
function wrappedCtOffset(h: Uint32Array, n: number): number | undefined {
  if (n === 0) return undefined;
  let distinct = 0;
  for (let v = 0; v < 65536; v++) if (h[v]) distinct++;
  if (distinct <= SCALED_8BIT_VALUES) return undefined;
  // The histogram of the signed values shifted by 32768 (the top bit flipped).
  const signed = new Uint32Array(65536);
  for (let v = 0; v < 65536; v++) signed[v ^ 0x8000] = h[v];
  if (quantile16(signed, n, 0.999) - quantile16(signed, n, 0.001) >= NARROW_SPAN) return undefined;
  // HU + 1024 first: read as HU itself, its air (about 0) would pass for soft tissue; HU itself read as HU + 1024
  // has no soft tissue at all (its tissue falls near -1000 HU).
  return [1024, 0].find((o) => readsAsCtNumbers(signed, n, 32768 + o));
}
