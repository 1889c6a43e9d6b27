/**
 * "Is this a colour picture?", asked of the decoded pixels before they become grey. A CT slice is grey: the only
 * colour a CT picture carries is a mark drawn on it (an arrow, a letter, an outline), a few percent of its pixels.
 * Photographs, logos, icons and coloured drawings are mostly colour, and once reduced to grey some of them pass
 * every other check (their dark regions can pass as lungs). Pure arithmetic on RGB(A) samples, the same in Node
 * (decode.ts, dicom.ts) and in the browser (web/on-device.ts); nothing fitted, no label used. It feeds only the
 * not-CT refusal (involvement.ts findLungs), never the model's input or P(COVID).
 *
 * A photograph of a monitor has a colour cast (the screen's white point, the room's light). It is taken away
 * first: each channel is scaled so that the median chromaticity (r / (r + g + b), and g, b) becomes grey. A cast
 * that multiplies the channels is then gone exactly, so a cast grey slice stays grey; a median, not a mean
 * (grey-world), so that coloured marks on a minority of the pixels do not tint the rest. A pixel is strongly coloured when, after that balance, its chroma
 * (max - min of R, G, B) exceeds 40 grey levels and 0.3 of its max (HSV saturation).
 *
 * The limit: at most 10% of the pixels strongly coloured. The most coloured of the 746 COVID-CT slices (a paper
 * figure with coloured arrows) has 5.8%, every CT-MD slice 0%, and the 150 real slices tried under strong warm
 * and cold casts (channels x 1/0.8/0.6 and 0.6/0.8/1) at most 0.06% (docs/notct-structure.md, "Colour pictures").
 */

export const COLOUR_LIMITS = Object.freeze({
  /** Chroma above this many grey levels (0-255) and above `saturation` x the pixel's max channel. */
  chroma: 40,
  saturation: 0.3,
  /** Refused above this share of strongly coloured pixels. */
  maxShare: 0.1,
  /** At most about this many pixels are looked at (a regular grid over a larger picture). */
  samples: 1 << 16,
  /** The cast is read from pixels with R + G + B at least this (a near-black pixel's chromaticity is noise). */
  minSum: 48,
  /** Chromaticity histogram bins. */
  bins: 1024,
});

/**
 * The share of strongly coloured pixels (see above) in interleaved 8-bit samples with `channels` per pixel
 * (3: RGB, 4: RGBA; alpha is ignored, as the grey decode drops it). Over a picture of more than
 * COLOUR_LIMITS.samples pixels, the pixels on a regular grid of every k-th row and column. 0 for a grey picture.
 */
export function colourShare(px: ArrayLike<number>, width: number, height: number, channels: 3 | 4): number {
  const n = width * height;
  if (px.length < n * channels) throw new RangeError(`colourShare: ${px.length} samples for ${width}x${height}x${channels}`);
  const step = Math.max(1, Math.ceil(Math.sqrt(n / COLOUR_LIMITS.samples)));
  const { chroma, saturation, minSum, bins } = COLOUR_LIMITS;
  // The cast: the median chromaticity r/(r+g+b) (and g, b) of the pixels that are not near black.
  const hist = [new Uint32Array(bins), new Uint32Array(bins), new Uint32Array(bins)];
  let count = 0, lit = 0;
  for (let y = 0; y < height; y += step) {
    for (let x = 0, i = y * width * channels; x < width; x += step, i += step * channels) {
      count++;
      const sum = px[i] + px[i + 1] + px[i + 2];
      if (sum < minSum) continue;
      lit++;
      for (let c = 0; c < 3; c++) hist[c][Math.min(bins - 1, Math.floor((bins * px[i + c]) / sum))]++;
    }
  }
  if (count === 0) return 0;
  // Gains that bring the median chromaticity to grey (1/3 each); none when nothing is lit or a median is 0.
  const gain = hist.map((h) => {
    const m = lit > 0 ? (lowerMedianBin(h, lit) + 0.5) / bins : 0;
    return lit > 0 && m > 1 / bins ? 1 / (3 * m) : 1;
  });
  let coloured = 0;
  for (let y = 0; y < height; y += step) {
    for (let x = 0, i = y * width * channels; x < width; x += step, i += step * channels) {
      const r = px[i] * gain[0], g = px[i + 1] * gain[1], b = px[i + 2] * gain[2];
      const max = Math.max(r, g, b), c = max - Math.min(r, g, b);
      if (c > chroma && c > saturation * max) coloured++;
    }
  }
  return coloured / count;
}

/** The bin holding the lower median of `total` counts. */
function lowerMedianBin(h: Uint32Array, total: number): number {
  const half = Math.ceil(total / 2);
  let acc = 0;
  for (let b = 0; b < h.length; b++) { acc += h[b]; if (acc >= half) return b; }
  return h.length - 1;
}

/** Why a picture with this share of strongly coloured pixels is not a CT slice; undefined when it may be one. */
export function colourRefusal(share: number | undefined): string | undefined {
  if (share === undefined || !(share > COLOUR_LIMITS.maxShare)) return undefined;
  return `a colour picture (${Math.round(100 * share)}% of its pixels strongly coloured): a CT slice is grey, with at most coloured marks`;
}
