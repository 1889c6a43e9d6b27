/**
 * DICOM RLE Lossless (PS3.5 annex G): a 64-byte header (segment count, then 15 offsets, little endian) and one
 * PackBits segment per byte plane: for each sample, its most significant byte plane first.
 */

/**
 * Decodes one RLE frame to pixel-interleaved, little-endian samples (the layout of native little-endian
 * pixel data), so the rest of the pipeline handles both alike. Throws a plain Error with the reason.
 */
export function decodeRle(frame: Uint8Array, pixels: number, samplesPerPixel: number, bytesPerSample: number): Uint8Array {
  if (frame.length < 64) throw new Error(`the RLE header needs 64 bytes, the frame has ${frame.length}`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = view.getUint32(0, true);
  const expected = samplesPerPixel * bytesPerSample;
  if (segments !== expected) throw new Error(`${segments} RLE segments, ${expected} expected for this pixel format`);
  const offsets: number[] = [];
  for (let s = 0; s < segments; s++) offsets.push(view.getUint32(4 + 4 * s, true));
  const out = new Uint8Array(pixels * expected);
  for (let s = 0; s < segments; s++) {
    const start = offsets[s];
    const end = s + 1 < segments ? offsets[s + 1] : frame.length;
    if (start < 64 || end > frame.length || end < start) throw new Error(`RLE segment ${s + 1} lies outside the frame (offsets ${start}..${end} of ${frame.length})`);
    const sample = Math.floor(s / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (s % bytesPerSample); // segment order is MSB first; output is LE
    unpackBits(frame, start, end, out, sample * bytesPerSample + byteInSample, expected, pixels, s + 1);
  }
  return out;
}

/** PackBits: header n >= 0 copies n+1 bytes, -127..-1 repeats the next byte 1-n times, -128 does nothing. */
function unpackBits(src: Uint8Array, start: number, end: number, out: Uint8Array, first: number, stride: number, count: number, segment: number): void {
  let i = start;
  let written = 0;
  let o = first;
  while (written < count) {
    if (i >= end) throw new Error(`RLE segment ${segment} ends after ${written} of ${count} bytes`);
    const h = src[i++];
    const n = h > 127 ? h - 256 : h;
    if (n >= 0) {
      const len = n + 1;
      if (i + len > end) throw new Error(`RLE segment ${segment} ends inside a literal run`);
      // Runs past the frame's size are padding and are dropped.
      for (let k = 0; k < len && written < count; k++, written++, o += stride) out[o] = src[i + k];
      i += len;
    } else if (n !== -128) {
      if (i >= end) throw new Error(`RLE segment ${segment} ends inside a repeat run`);
      const v = src[i++];
      for (let k = 0; k < 1 - n && written < count; k++, written++, o += stride) out[o] = v;
    }
  }
}
