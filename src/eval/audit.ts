/**
 * Shortcut audit: the same images re-encoded in ways that keep the anatomy but change the file's format,
 * colour mode, compression or sharpness. A model that reads pixels only should score them the same; a large
 * change in AUC means it relied on how the file was made (which, in COVID-CT, depends on the source and so on
 * the label).
 */
import sharp from 'sharp';
import { sniffFormat } from '../data/format.js';

export interface AuditVariant {
  name: string;
  description: string;
  /** Re-encodes one file's bytes; returns the input unchanged where the variant does not apply. */
  apply(bytes: Uint8Array): Promise<Uint8Array>;
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
