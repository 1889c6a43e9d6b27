/**
 * Real CT made worse, in memory, as the benches that check "do we still read it" need it (shared so that every
 * bench degrades the same way):
 *   - DEGRADE: exports (blur, downscaling, JPEG 30 and 10, 128 px, contrast halved, gamma, rotation,
 *     nearest-neighbour upscaling, and blur sigma 4 px, heavier than an export should be), bench/notct-structure.ts;
 *   - VARIANTS: the degrade bench's (bench/degrade.bench.ts): half, blur, JPEG, phone photo, window, gamma,
 *     screen photo, noise, wider field, crops, paper figure, pre-segmented, double, upside-down, rotated 90, tilted 10
 *     20 and 30 degrees.
 * Deterministic: sharp with fixed parameters, noise seeded by the file's bytes.
 */
import sharp from 'sharp';
import { decodeGrey } from '../src/data/decode.js';
import { segmentLungs } from '../src/data/lungs.js';
import { keptRegion } from '../src/data/lung-view.js';
import { huOfWindow, windowValue } from '../src/data/window.js';
import type { GreyImage } from '../src/types.js';
import { Rng, deriveSeed } from '../src/util/prng.js';

/** Exports (bench/notct-structure.ts): the file's bytes and its width in, the degraded file out. */
export const DEGRADE: Record<string, (bytes: Buffer, width: number) => Promise<Buffer>> = {
  'blur sigma 2.4 px': (b) => sharp(b).greyscale().blur(2.4).png().toBuffer(),
  'downscaled 4x and back': async (b, w) => sharp(await sharp(b).greyscale().resize(Math.max(1, Math.round(w / 4))).png().toBuffer()).resize(w).png().toBuffer(),
  'halved and back': async (b, w) => sharp(await sharp(b).greyscale().resize(Math.max(1, Math.round(w / 2))).png().toBuffer()).resize(w).png().toBuffer(),
  'JPEG quality 30': (b) => sharp(b).greyscale().jpeg({ quality: 30 }).toBuffer(),
  '128 px wide': (b) => sharp(b).greyscale().resize(128).png().toBuffer(),
  'JPEG quality 10': (b) => sharp(b).greyscale().jpeg({ quality: 10 }).toBuffer(),
  'contrast halved (0.5 x + 64)': (b) => sharp(b).greyscale().linear(0.5, 64).png().toBuffer(),
  'gamma 2.2': (b) => sharp(b).greyscale().gamma(2.2).png().toBuffer(),
  'rotated 30 degrees': (b) => sharp(b).greyscale().rotate(30, { background: '#000' }).png().toBuffer(),
  'nearest-neighbour 2x': async (b, w) => sharp(b).greyscale().resize(2 * w, undefined, { kernel: 'nearest' }).png().toBuffer(),
  'blur sigma 4 px': (b) => sharp(b).greyscale().blur(4).png().toBuffer(),
};

/** The degrade bench's variants: the file's bytes in, the variant's file out. */
export const u8 = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
export const rawPng = (img: GreyImage): Promise<Buffer> =>
  sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.length), { raw: { width: img.width, height: img.height, channels: 1 } }).png().toBuffer();
/** A grey-level map applied pixel by pixel, written as PNG. */
async function mapGrey(bytes: Uint8Array, f: (v: number) => number): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) lut[v] = Math.max(0, Math.min(255, Math.round(f(v))));
  return u8(await rawPng({ ...img, data: img.data.map((v) => lut[v]) }));
}

/** The HU of CT-MD's PNG greys: they are exported in a lung window, level -600 / width 1500. */
const CT_MD_HU = huOfWindow({ width: 1500, level: -600 });

export interface Variant { name: string; make(bytes: Uint8Array): Promise<Uint8Array> }
export const VARIANTS: Variant[] = [
  { name: 'original', make: async (b) => b },
  { name: 'half', make: halved },
  { name: 'blur1.2', make: async (b) => u8(await sharp(b).blur(1.2).png().toBuffer()) },
  { name: 'jpeg30', make: async (b) => u8(await sharp(b).jpeg({ quality: 30 }).toBuffer()) },
  { name: 'photo', make: async (b) => u8(await sharp(await sharp(b).blur(1).linear(0.75, 10).png().toBuffer()).jpeg({ quality: 60 }).toBuffer()) },
  { name: 'window', make: (b) => mapGrey(b, (v) => 1.3 * (v - 40)) },
  { name: 'gamma', make: (b) => mapGrey(b, (v) => 255 * (v / 255) ** 1.4) },
  { name: 'screen-photo', make: screenPhoto },
  { name: 'noise6', make: (b) => addNoise(b, 6) },
  { name: 'noise12', make: (b) => addNoise(b, 12) },
  { name: 'wide-fov', make: widerField },
  { name: 'crop-body', make: (b) => cropBody(b, 0, 0) },
  { name: 'crop-tight', make: (b) => cropBody(b, 0.1, 0.12) },
  { name: 'figure', make: paperFigure },
  { name: 'wide-window', make: (b) => mapGrey(b, (v) => 0.7 * v + 40) },
  { name: 'gamma0.7', make: (b) => mapGrey(b, (v) => 255 * (v / 255) ** 0.7) },
  { name: 'pre-segmented', make: (b) => preSegmented(b, 2) },
  // Lungs cut out onto black with no rim (CC-CCII's segmented slices, many Kaggle sets; docs/lungs-on-black.md),
  // also saved as JPEG 75 and blurred (sigma 1.2) before the cut's black is painted again.
  { name: 'on-black', make: (b) => preSegmented(b, 0) },
  { name: 'on-black-jpeg75', make: async (b) => u8(await sharp(await preSegmented(b, 0)).jpeg({ quality: 75 }).toBuffer()) },
  { name: 'on-black-blur1.2', make: (b) => preSegmented(b, 0, 1.2) },
  // Cut out, then halved (a cut-out set exported smaller): the cut's edge is as soft as the rest.
  { name: 'on-black-half', make: async (b) => halved(await preSegmented(b, 0)) },
  { name: 'viewer-overlay', make: viewerOverlay },
  {
    name: 'double', make: async (b) => {
      const m = await sharp(b).metadata();
      return u8(await sharp(b).resize(m.width! * 2, m.height! * 2, { fit: 'fill', kernel: 'lanczos3' }).png().toBuffer());
    },
  },
  { name: 'upside-down', make: async (b) => u8(await sharp(b).flip().png().toBuffer()) },
  { name: 'rotated90', make: async (b) => u8(await sharp(b).rotate(90).png().toBuffer()) },
  // A slice tilted in a picture of its own size (a patient lying rolled on the table, a phone held askew), corners air.
  { name: 'tilt10', make: (b) => tilted(b, 10) },
  { name: 'tilt20', make: (b) => tilted(b, 20) },
  { name: 'tilt30', make: (b) => tilted(b, 30) },
  // A soft-tissue (mediastinal) window, W 400 / L 40 HU, from CT-MD's lung window (W 1500 / L -600): the lungs go black.
  { name: 'mediastinal', make: (b) => mapGrey(b, (v) => windowValue(CT_MD_HU.slope * v + CT_MD_HU.intercept, { width: 400, level: 40 })) },
  { name: 'mirrored', make: async (b) => u8(await sharp(b).flop().png().toBuffer()) },
  // A negative (some viewers' invert key): air white, bone black.
  { name: 'negative', make: (b) => mapGrey(b, (v) => 255 - v) },
];

/** Downscaled 2x with Lanczos-3 (the file is then 128 px). */
async function halved(b: Uint8Array): Promise<Uint8Array> {
  const m = await sharp(b).metadata();
  return u8(await sharp(b).resize(Math.round(m.width! / 2), Math.round(m.height! / 2), { fit: 'fill', kernel: 'lanczos3' }).png().toBuffer());
}

/** As some public sets ship slices: the lungs only (the mask grown by 2 analysis px), everything else black. */
/** The slice cut to its lungs grown by `rim` px, the rest black; `blur`: the slice blurred first (sigma px). */
async function preSegmented(bytes: Uint8Array, rim: number, blur = 0): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const keep = keptRegion(segmentLungs(img), img.width, img.height, rim);
  const src = blur ? await decodeGrey(u8(await sharp(bytes).blur(blur).png().toBuffer())) : img;
  return u8(await rawPng({ ...img, data: src.data.map((v, i) => (keep[i] ? v : 0)) }));
}

/** The body's box: rows and columns where at least 5% of the pixels are brighter than grey 110 (air, grey in some lung windows, is darker). */
function bodyBox(img: GreyImage): { x0: number; x1: number; y0: number; y1: number } {
  const cols = new Array<number>(img.width).fill(0), rowsN = new Array<number>(img.height).fill(0);
  for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) if (img.data[y * img.width + x] > 110) { cols[x]++; rowsN[y]++; }
  const first = (a: number[], n: number) => a.findIndex((c) => c > 0.05 * n);
  const last = (a: number[], n: number) => a.length - 1 - [...a].reverse().findIndex((c) => c > 0.05 * n);
  return { x0: first(cols, img.height), x1: last(cols, img.height), y0: first(rowsN, img.width), y1: last(rowsN, img.width) };
}

/** Cropped to the body's box, then further by fx of its width on each side and fy of its height (a tight crop: the
 * chest wall cut, the lungs at the picture's edge, as in datasets cut from viewers). */
async function cropBody(bytes: Uint8Array, fx: number, fy: number): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const b = bodyBox(img);
  const w = b.x1 - b.x0 + 1, h = b.y1 - b.y0 + 1;
  const left = b.x0 + Math.round(fx * w), top = b.y0 + Math.round(fy * h);
  return u8(await sharp(await rawPng(img)).extract({ left, top, width: Math.round((1 - 2 * fx) * w), height: Math.round((1 - 2 * fy) * h) }).png().toBuffer());
}

/** A paper figure: the slice at 240 px wide, framed in white, a panel letter in the corner, JPEG quality 80. */
async function paperFigure(bytes: Uint8Array): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const w = 240, h = Math.round((240 * img.height) / img.width);
  const small = await sharp(await rawPng(img)).resize(w, h, { kernel: 'lanczos3' }).png().toBuffer();
  const letter = `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg"><text x="8" y="26" font-family="sans-serif" font-size="22" font-weight="bold" fill="white">A</text></svg>`;
  return u8(await sharp({ create: { width: w + 12, height: h + 12, channels: 3, background: { r: 255, g: 255, b: 255 } } })
    .composite([{ input: small, left: 6, top: 6 }, { input: Buffer.from(letter), left: 6, top: 6 }]).jpeg({ quality: 80 }).toBuffer());
}

/**
 * A screenshot of a PACS viewer: white annotation text in the four corners (patient line, study, series and image
 * numbers, window width / level, slice thickness), the orientation letters R / L / A / P at the edges' middles and a
 * 5 cm scale ruler with ticks at the bottom right, drawn over the slice as viewers draw them (text height 4% of the side).
 */
async function viewerOverlay(bytes: Uint8Array): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const { width: w, height: h } = img;
  const f = Math.max(8, Math.round(0.04 * h)), line = Math.round(f * 1.2), m = Math.round(f * 0.4);
  const text = (x: number, y: number, t: string, anchor = 'start') => `<text x="${x}" y="${y}" text-anchor="${anchor}">${t}</text>`;
  const corner = (lines: string[], right: boolean, bottom: boolean) => lines.map((t, i) =>
    text(right ? w - m : m, bottom ? h - m - (lines.length - 1 - i) * line : m + f + i * line, t, right ? 'end' : 'start')).join('');
  const ruler = Math.round(0.2 * w), rx = w - m - ruler, ry = h - m - 3 * line;
  const ticks = Array.from({ length: 6 }, (_, i) => `<line x1="${rx + (i * ruler) / 5}" y1="${ry}" x2="${rx + (i * ruler) / 5}" y2="${ry - (i % 5 === 0 ? f : f / 2)}"/>`).join('');
  const svg = `<svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg"><g font-family="sans-serif" font-size="${f}" fill="white" stroke="white" stroke-width="1">
    ${corner(['ANONYMOUS^PATIENT', 'ID 0000000', 'M 54Y'], false, false)}
    ${corner(['CT CHEST', 'Se: 3', 'Im: 42/120'], true, false)}
    ${corner(['W: 1500 L: -600', 'ST: 1.25 mm'], false, true)}
    ${corner(['5 cm'], true, true)}
    ${text(m, h / 2, 'R')}${text(w - m, h / 2, 'L', 'end')}${text(w / 2, m + f, 'A', 'middle')}${text(w / 2, h - m, 'P', 'middle')}
    <line x1="${rx}" y1="${ry}" x2="${rx + ruler}" y2="${ry}"/>${ticks}</g></svg>`;
  return u8(await sharp(await rawPng(img)).composite([{ input: Buffer.from(svg), left: 0, top: 0 }]).greyscale().png().toBuffer());
}

/** A wider field of view: the slice shrunk to 60% (Lanczos) in a frame of air (grey 0) of its old size. */
async function widerField(bytes: Uint8Array): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const w = Math.round(0.6 * img.width), h = Math.round(0.6 * img.height);
  const small = await sharp(await rawPng(img)).resize(w, h, { kernel: 'lanczos3' }).png().toBuffer();
  return u8(await sharp({ create: { width: img.width, height: img.height, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite([{ input: small, left: Math.round((img.width - w) / 2), top: Math.round((img.height - h) / 2) }]).greyscale().png().toBuffer());
}

/** Gaussian noise of standard deviation sd grey levels (a sharper kernel or a lower dose), seeded by the file's bytes. */
async function addNoise(bytes: Uint8Array, sd: number): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const rng = new Rng(deriveSeed(20261202, `${bytes.length}:${bytes.subarray(0, 64).join(',')}:${bytes.subarray(-64).join(',')}`));
  return u8(await rawPng({ ...img, data: img.data.map((v) => Math.max(0, Math.min(255, Math.round(v + sd * rng.normal())))) }));
}

/**
 * A colour phone photo of the slice on a monitor: the screen's raised black level and dimmed white (0.8 v + 25),
 * a warm cast (R, G, B x 1 / 0.9 / 0.75), tilted 5 degrees, slightly out of focus (sigma 0.8), inside a dark
 * bezel and desk (20% larger on each axis), a glare from the top left, and the phone's JPEG (quality 70, RGB).
 */
async function screenPhoto(bytes: Uint8Array): Promise<Uint8Array> {
  const img = await decodeGrey(bytes);
  const rgb = new Uint8Array(3 * img.data.length);
  for (let i = 0; i < img.data.length; i++) {
    const v = 0.8 * img.data[i] + 25;
    rgb[3 * i] = Math.round(v); rgb[3 * i + 1] = Math.round(0.9 * v); rgb[3 * i + 2] = Math.round(0.75 * v);
  }
  const bezel = { r: 30, g: 27, b: 23 };
  const screen = await sharp(rgb, { raw: { width: img.width, height: img.height, channels: 3 } }).rotate(5, { background: bezel }).blur(0.8).png().toBuffer();
  const { width = 0, height = 0 } = await sharp(screen).metadata();
  const W = Math.round(1.2 * width), H = Math.round(1.2 * height);
  const glare = `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg"><defs><radialGradient id="g" cx="0.2" cy="0.15" r="0.7">`
    + '<stop offset="0" stop-color="white" stop-opacity="0.18"/><stop offset="1" stop-color="white" stop-opacity="0"/></radialGradient></defs>'
    + `<rect width="${W}" height="${H}" fill="url(#g)"/></svg>`;
  return u8(await sharp({ create: { width: W, height: H, channels: 3, background: bezel } })
    .composite([{ input: screen, left: Math.round((W - width) / 2), top: Math.round((H - height) / 2) }, { input: Buffer.from(glare), blend: 'screen' }])
    .jpeg({ quality: 70 }).toBuffer());
}

/** The slice turned by `degrees` (clockwise) about its centre in a picture of its own size, the corners filled with black (air). */
async function tilted(b: Uint8Array, degrees: number): Promise<Uint8Array> {
  const { width: w, height: h } = await sharp(b).metadata();
  const r = sharp(await sharp(b).rotate(degrees, { background: '#000' }).png().toBuffer());
  const m = await r.metadata();
  return u8(await r.extract({ left: Math.floor((m.width! - w!) / 2), top: Math.floor((m.height! - h!) / 2), width: w!, height: h! }).png().toBuffer());
}
