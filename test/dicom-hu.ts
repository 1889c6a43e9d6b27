/**
 * Test helper: the raw Hounsfield units of a one-frame CT DICOM compressed with JPEG lossless, read with the
 * project's own JPEG lossless decoder (src/data/jpeg-lossless.ts) but without its window, so that tests can build
 * HU references independently of the grey levels the model sees.
 */
import dicomParser from 'dicom-parser';
import { decodeJpegLossless } from '../src/data/jpeg-lossless.js';

/** Hounsfield units of a one-frame CT DICOM compressed with JPEG lossless (stored value * slope + intercept). */
export function dicomHu(bytes: Uint8Array): { width: number; height: number; hu: Float32Array } {
  const ds = dicomParser.parseDicom(bytes);
  const rows = ds.uint16('x00280010')!, cols = ds.uint16('x00280011')!;
  const bitsStored = ds.uint16('x00280101') ?? 16;
  const signed = ds.uint16('x00280103') === 1;
  const slope = Number(ds.string('x00281053') ?? 1), intercept = Number(ds.string('x00281052') ?? 0);
  const el = ds.elements.x7fe00010;
  const frame = dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, el.fragments!.length);
  const j = decodeJpegLossless(frame, { width: cols, height: rows, components: 1 });
  const hu = new Float32Array(rows * cols);
  const sh = 32 - bitsStored;
  for (let i = 0; i < hu.length; i++) {
    let v = j.samples[i] & ((1 << bitsStored) - 1);
    if (signed) v = (v << sh) >> sh;
    hu[i] = v * slope + intercept;
  }
  return { width: cols, height: rows, hu };
}
