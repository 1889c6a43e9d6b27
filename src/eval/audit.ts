/**
 * Shortcut audit: the same images re-encoded in ways that keep the anatomy but change the file's format,
 * colour mode, compression or sharpness. A model that reads pixels only should score them the same; a large
 * change in AUC means it relied on how the file was made (which, in COVID-CT, depends on the source and so on
 * the label).
 */
import sharp from 'sharp';
import type { GreyImage } from '../types.js';
import { sniffFormat } from '../data/format.js';
import { decodeGrey } from '../data/decode.js';
import { segmentLungs } from '../data/lungs.js';
import { DEFAULT_LUNG_FRAMING, keptRegion } from '../data/lung-view.js';
import { Rng } from '../util/prng.js';

/** What a variant may know besides the file's bytes: its place in the audited list, the list, the labels. */
export interface AuditContext {
  /** Index of this file in `all`. */
  index: number;
  /** The bytes of every file of the audited split, in order. */
  all: readonly Uint8Array[];
  /** 1 = COVID, 0 = non-COVID, per file of `all` (for variants that treat one class only). */
  labels?: readonly number[];
}

export interface AuditVariant {
  name: string;
  description: string;
  /**
   * Judged on the mean absolute per-image change of P(COVID) (over the files it changed) rather than on the AUC
   * change: the variants that change what lies outside the lungs (issue 10).
   */
  perImage?: boolean;
  /** Re-encodes one file's bytes; returns the input unchanged where the variant does not apply. */
  apply(bytes: Uint8Array, context?: AuditContext): Promise<Uint8Array>;
}

const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);

export const AUDIT_VARIANTS: readonly AuditVariant[] = [
  { name: 'original', description: 'the files as they are', apply: async (b) => b },
  {
    name: 'png-to-jpeg-q75', description: 'PNG files re-encoded as JPEG at quality 75 (JPEG files unchanged)',
    apply: async (b) => (sniffFormat(b) === 'png' ? u8(await sharp(b).jpeg({ quality: 75 }).toBuffer()) : b),
  },
  {
    name: 'jpeg-to-png', description: 'JPEG files re-encoded as PNG (PNG files unchanged)',
    apply: async (b) => (sniffFormat(b) === 'jpeg' ? u8(await sharp(b).png().toBuffer()) : b),
  },
  {
    name: 'grey', description: 'every file converted to a greyscale PNG',
    apply: async (b) => u8(await sharp(b).greyscale().toColourspace('b-w').png().toBuffer()),
  },
  {
    name: 'downscale-2x', description: 'downscaled by 2 and back up to the original size (PNG)',
    apply: async (b) => {
      const m = await sharp(b).metadata();
      const w = m.width ?? 0, h = m.height ?? 0;
      const small = await sharp(b).resize(Math.max(1, Math.round(w / 2)), Math.max(1, Math.round(h / 2)), { fit: 'fill' }).png().toBuffer();
      return u8(await sharp(small).resize(w, h, { fit: 'fill' }).png().toBuffer());
    },
  },
];

/* ---------------------------------------------------------------------------------------------------------------
 * Audits outside the lungs (issue 10). These variants keep the lungs' pixels and change everything else: noise,
 * another slice's surroundings, or figure marks pasted on non-COVID slices. A model that reads the lungs only
 * should move by little per image; they are judged on the mean absolute per-image change of P(COVID).
 * ------------------------------------------------------------------------------------------------------------- */

/** Fixed seed of the outside variants' random choices (mixed with a hash of the image's bytes). */
export const OUTSIDE_SEED = 20260110;
/** The lung mask is grown by this many analysis pixels before the outside is replaced (as the lungs view keeps). */
export const OUTSIDE_DILATE = DEFAULT_LUNG_FRAMING.dilate;

/** FNV-1a (32 bit) of the bytes: the per-image seed, from the content only (never the file name). */
export function bytesHash(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

const greyPng = async (img: GreyImage): Promise<Uint8Array> =>
  u8(await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer());

/**
 * The slice's kept region at its own size (1 = keep): the lung mask of segmentLungs, dilated by `radius` analysis
 * pixels, upsampled with nearest neighbour. Null when no lungs are found (the variants then leave the file alone).
 */
export function keptLungMask(img: GreyImage, radius = OUTSIDE_DILATE): Uint8Array | null {
  const seg = segmentLungs(img);
  if (!seg.found) return null;
  return keptRegion(seg, img.width, img.height, radius);
}

/** Everything outside the kept lung mask replaced by uniform noise (0-255), seeded by OUTSIDE_SEED + the bytes' hash. */
export async function outsideNoise(bytes: Uint8Array): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const keep = keptLungMask(img);
  if (!keep) return bytes;
  const rng = new Rng((OUTSIDE_SEED ^ bytesHash(bytes)) >>> 0);
  const data = img.data.slice();
  for (let i = 0; i < data.length; i++) if (!keep[i]) data[i] = Math.floor(rng.next() * 256);
  return greyPng({ ...img, data });
}

const data0Length = (img: GreyImage) => img.width * img.height;

/** Everything outside the kept lung mask replaced by the pixels of `other` (resized to this slice's size). */
export async function outsideSwap(bytes: Uint8Array, other: Uint8Array): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const keep = keptLungMask(img);
  if (!keep) return bytes;
  const o = await decodeGrey(other);
  const resized = o.width === img.width && o.height === img.height ? o.data
    : new Uint8Array(await sharp(Buffer.from(o.data.buffer, o.data.byteOffset, o.data.length), { raw: { width: o.width, height: o.height, channels: 1 } })
      .resize(img.width, img.height, { fit: 'fill' }).extractChannel(0).raw().toBuffer());
  if (resized.length !== data0Length(img)) throw new Error(`outsideSwap: resized to ${resized.length} bytes for a ${img.width}x${img.height} slice`);
  const data = img.data.slice();
  for (let i = 0; i < data.length; i++) if (!keep[i]) data[i] = resized[i];
  return greyPng({ ...img, data });
}

/** Stroke glyphs on a 10 x 14 box (no font needed, so the same pixels on every machine). */
const GLYPHS: Record<string, string> = {
  A: 'M0 14 L5 0 L10 14 M2 9 L8 9',
  B: 'M1 0 L1 14 L7 14 Q10 14 10 10.5 Q10 7 6 7 L1 7 M1 0 L6 0 Q9 0 9 3.5 Q9 7 6 7',
  R: 'M1 14 L1 0 L6 0 Q9.5 0 9.5 3.5 Q9.5 7 6 7 L1 7 M5 7 L10 14',
  L: 'M1 0 L1 14 L9 14',
};

/**
 * The marks pasted on one slice, as an SVG of its size: 2-3 arrows (white or black, with a dark or light rim), 2-3
 * letters (A, B, R, L) and a scale bar with ticks, at places drawn from `rng` anywhere on the slice (also over the
 * lungs), sizes relative to the slice.
 */
export function marksSvg(width: number, height: number, rng: Rng): string {
  const s = Math.min(width, height);
  const parts: string[] = [];
  const colour = () => (rng.next() < 0.5 ? ['#ffffff', '#000000'] : ['#000000', '#ffffff']);
  const nArrows = 2 + rng.int(2);
  for (let k = 0; k < nArrows; k++) {
    const len = s * rng.uniform(0.08, 0.16), wdt = Math.max(2, s * 0.012);
    const x = rng.uniform(0.1, 0.9) * width, y = rng.uniform(0.1, 0.9) * height, a = rng.uniform(0, 360);
    const [fill, rim] = colour();
    const h = len * 0.35;
    parts.push(`<g transform="translate(${x.toFixed(1)} ${y.toFixed(1)}) rotate(${a.toFixed(1)})">` +
      `<path d="M0 0 L${h.toFixed(1)} ${(-h * 0.6).toFixed(1)} L${h.toFixed(1)} ${(-wdt / 2).toFixed(1)} L${len.toFixed(1)} ${(-wdt / 2).toFixed(1)} ` +
      `L${len.toFixed(1)} ${(wdt / 2).toFixed(1)} L${h.toFixed(1)} ${(wdt / 2).toFixed(1)} L${h.toFixed(1)} ${(h * 0.6).toFixed(1)} Z" ` +
      `fill="${fill}" stroke="${rim}" stroke-width="${Math.max(1, s * 0.003).toFixed(1)}"/></g>`);
  }
  const letters = Object.keys(GLYPHS);
  const nLetters = 2 + rng.int(2);
  for (let k = 0; k < nLetters; k++) {
    const ch = letters[rng.int(letters.length)];
    const size = s * rng.uniform(0.04, 0.08), sc = size / 14;
    const x = rng.uniform(0.05, 0.9) * width, y = rng.uniform(0.05, 0.9) * height;
    const [fill] = colour();
    parts.push(`<path transform="translate(${x.toFixed(1)} ${y.toFixed(1)}) scale(${sc.toFixed(3)})" d="${GLYPHS[ch]}" fill="none" ` +
      `stroke="${fill}" stroke-width="${(Math.max(1.5, s * 0.007) / sc).toFixed(2)}" stroke-linecap="round" stroke-linejoin="round"/>`);
  }
  const bar = s * rng.uniform(0.12, 0.25), bx = rng.uniform(0.05, 0.95) * width - bar / 2, by = rng.uniform(0.05, 0.95) * height;
  const t = Math.max(1.5, s * 0.006), [bf] = colour();
  parts.push(`<g stroke="${bf}" stroke-width="${t.toFixed(1)}"><line x1="${bx.toFixed(1)}" y1="${by.toFixed(1)}" x2="${(bx + bar).toFixed(1)}" y2="${by.toFixed(1)}"/>` +
    [0, 0.5, 1].map((f) => `<line x1="${(bx + f * bar).toFixed(1)}" y1="${(by - 3 * t).toFixed(1)}" x2="${(bx + f * bar).toFixed(1)}" y2="${by.toFixed(1)}"/>`).join('') + '</g>');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/**
 * Arrows, letters and a scale bar (marksSvg) pasted on the slice, at places seeded by OUTSIDE_SEED + the bytes' hash.
 * `only` restricts them to the kept lung mask (keptLungMask: 'inside') or to the rest ('outside'), the same marks
 * cut in two, to tell how much of the change comes from marks over the lungs (unchanged when no lungs are found).
 */
export async function pasteMarks(bytes: Uint8Array, only?: 'inside' | 'outside'): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const keep = only ? keptLungMask(img) : null;
  if (only && !keep) return bytes;
  const rng = new Rng(((OUTSIDE_SEED + 1) ^ bytesHash(bytes)) >>> 0);
  const svg = marksSvg(img.width, img.height, rng);
  const rgba = await sharp(Buffer.from(svg)).resize(img.width, img.height, { fit: 'fill' }).ensureAlpha().raw().toBuffer();
  const data = img.data.slice();
  for (let i = 0; i < data.length; i++) {
    const a = rgba[4 * i + 3] / 255;
    if (keep && (keep[i] === 1) !== (only === 'inside')) continue;
    if (a > 0) data[i] = Math.round(data[i] * (1 - a) + rgba[4 * i] * a);
  }
  return greyPng({ ...img, data });
}

export const OUTSIDE_VARIANTS: readonly AuditVariant[] = [
  {
    name: 'outside-noise', perImage: true,
    description: `outside the lung mask (dilated ${OUTSIDE_DILATE} analysis px) uniform noise, seeded by the bytes (grey PNG; unchanged when no lungs are found)`,
    apply: (b) => outsideNoise(b),
  },
  {
    name: 'outside-swap', perImage: true,
    description: 'outside the dilated lung mask the next image\'s pixels (same split, resized): another slice\'s surroundings (grey PNG)',
    apply: (b, ctx) => {
      if (!ctx || ctx.all.length < 2) return Promise.resolve(b);
      return outsideSwap(b, ctx.all[(ctx.index + 1) % ctx.all.length]);
    },
  },
  {
    name: 'marks-on-noncovid', perImage: true,
    description: 'arrows, letters (A, B, R, L) and a scale bar pasted at seeded places on every non-COVID slice (grey PNG; COVID unchanged)',
    apply: (b, ctx) => (ctx?.labels?.[ctx.index] === 0 ? pasteMarks(b) : Promise.resolve(b)),
  },
];

/** Every variant, the file-level ones first ('original' is the baseline). */
export const ALL_AUDIT_VARIANTS: readonly AuditVariant[] = [...AUDIT_VARIANTS, ...OUTSIDE_VARIANTS];
