/**
 * Figure marks (arrows, panel letters, a scale bar) pasted onto a slice, as training augmentation: COVID-CT's COVID
 * slices are figures from papers and often carry such marks, its non-COVID slices rarely do, so a model could learn
 * "arrow = COVID". Pasting them on non-COVID training slices too takes that cue away. Deterministic for a seed.
 */
import sharp from 'sharp';
import type { GreyImage } from '../types.js';
import { Rng } from '../util/prng.js';

const LETTERS = ['A', 'B', 'C', 'D', 'R', 'L', 'a', 'b'];

/** The SVG of 1-3 arrows, 0-2 letters and maybe a scale bar for a width x height image. */
export function marksSvg(width: number, height: number, seed: number): string {
  const rng = new Rng(seed);
  const side = Math.min(width, height);
  const parts: string[] = [];
  const colour = () => (rng.next() < 0.7 ? '#ffffff' : '#000000');
  const arrows = 1 + Math.floor(rng.next() * 3);
  for (let k = 0; k < arrows; k++) {
    const x = rng.uniform(0.15, 0.85) * width, y = rng.uniform(0.15, 0.85) * height;
    const len = rng.uniform(0.06, 0.14) * side, a = rng.uniform(0, 2 * Math.PI), w = Math.max(1.5, 0.012 * side);
    const tx = x + len * Math.cos(a), ty = y + len * Math.sin(a);
    const h = Math.max(4, 0.035 * side), c = colour();
    const hx = (s: number) => x + h * Math.cos(a + s * 0.45), hy = (s: number) => y + h * Math.sin(a + s * 0.45);
    parts.push(`<line x1="${tx.toFixed(1)}" y1="${ty.toFixed(1)}" x2="${x.toFixed(1)}" y2="${y.toFixed(1)}" stroke="${c}" stroke-width="${w.toFixed(1)}"/>`);
    parts.push(`<polygon points="${x.toFixed(1)},${y.toFixed(1)} ${hx(1).toFixed(1)},${hy(1).toFixed(1)} ${hx(-1).toFixed(1)},${hy(-1).toFixed(1)}" fill="${c}"/>`);
  }
  const letters = Math.floor(rng.next() * 3);
  for (let k = 0; k < letters; k++) {
    const x = rng.uniform(0.03, 0.85) * width, y = rng.uniform(0.12, 0.97) * height;
    parts.push(`<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-family="sans-serif" font-weight="bold" font-size="${(rng.uniform(0.06, 0.12) * side).toFixed(1)}" fill="${colour()}">${LETTERS[Math.floor(rng.next() * LETTERS.length)]}</text>`);
  }
  if (rng.next() < 0.3) {
    const x = rng.uniform(0.05, 0.6) * width, y = rng.uniform(0.85, 0.95) * height;
    parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(0.2 * width).toFixed(1)}" height="${Math.max(2, 0.01 * side).toFixed(1)}" fill="${colour()}"/>`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

/** The slice with marks pasted on it (grey). */
export async function pasteMarks(img: GreyImage, seed: number): Promise<GreyImage> {
  const raw = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } })
    .composite([{ input: Buffer.from(marksSvg(img.width, img.height, seed)) }])
    .greyscale().raw().toBuffer({ resolveWithObject: true });
  const data = raw.info.channels === 1 ? new Uint8Array(raw.data) : Uint8Array.from({ length: img.width * img.height }, (_, i) => raw.data[i * raw.info.channels]);
  return { width: img.width, height: img.height, data };
}
