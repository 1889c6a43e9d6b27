/**
 * NIfTI-1 volumes (`.nii`, `.nii.gz` once inflated): research CT sets ship whole scans this way (MosMedData,
 * COVID-19-CT-Seg). Each axial slice becomes a CT slice in Hounsfield units through the lung window, shown as a
 * radiologist reads it (the patient's right on the picture's left, anterior up), with its position along the body
 * axis so that the slices make one scan. Pure: bytes in, grey slices out.
 *
 * A volume must read as HU (the same physical checks as grey16.ts: a soft-tissue mode near 0 HU, air or lung
 * below -600 HU); a volume of masks, probabilities or already normalised intensities is refused, not guessed at.
 */
import type { GreyImage } from '../types.js';
import { readsAsCtNumbers } from './grey16.js';
import { DEFAULT_LUNG_WINDOW, huOfWindow, windowValue, type LungWindow } from './window.js';

/** A NIfTI problem the user can act on (the message says what is wrong). */
export class NiftiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NiftiError';
  }
}

const HEADER = 348;

/** Whether the bytes hold a NIfTI-1 header (either byte order), one file or a .hdr of a pair. */
export function isNifti(b: Uint8Array): boolean {
  if (b.length < HEADER) return false;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getInt32(0, true) !== HEADER && dv.getInt32(0, false) !== HEADER) return false;
  const magic = String.fromCharCode(b[344], b[345], b[346], b[347]);
  return magic === 'n+1\0' || magic === 'ni1\0';
}

/** Whether the bytes are gzip (a `.nii.gz` before inflation). */
export const isGzip = (b: Uint8Array): boolean => b.length >= 18 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 8;

export interface NiftiSlice {
  image: GreyImage;
  /** Position along the body axis (mm, superior positive), for ordering the scan. */
  position: number;
}

/** Bytes per voxel and reader of each supported datatype. */
const TYPES: Record<number, { size: number; name: string; get: (dv: DataView, o: number, le: boolean) => number }> = {
  2: { size: 1, name: 'uint8', get: (dv, o) => dv.getUint8(o) },
  4: { size: 2, name: 'int16', get: (dv, o, le) => dv.getInt16(o, le) },
  8: { size: 4, name: 'int32', get: (dv, o, le) => dv.getInt32(o, le) },
  16: { size: 4, name: 'float32', get: (dv, o, le) => dv.getFloat32(o, le) },
  64: { size: 8, name: 'float64', get: (dv, o, le) => dv.getFloat64(o, le) },
  256: { size: 1, name: 'int8', get: (dv, o) => dv.getInt8(o) },
  512: { size: 2, name: 'uint16', get: (dv, o, le) => dv.getUint16(o, le) },
  768: { size: 4, name: 'uint32', get: (dv, o, le) => dv.getUint32(o, le) },
};

/** Voxel index (i, j, k) to world (RAS mm): rows of a 3 x 4 affine. */
type Affine = [[number, number, number, number], [number, number, number, number], [number, number, number, number]];

/** The header's affine: sform when set, else qform, else the voxel sizes alone (NIfTI's "method 1"). */
function affineOf(dv: DataView, le: boolean): Affine {
  const f = (o: number) => dv.getFloat32(o, le);
  const pixdim = [0, 1, 2, 3].map((k) => f(76 + 4 * k));
  if (dv.getInt16(254, le) > 0) {
    return [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => f(280 + 16 * r + 4 * c))) as Affine;
  }
  const [dx, dy, dz] = [Math.abs(pixdim[1]) || 1, Math.abs(pixdim[2]) || 1, Math.abs(pixdim[3]) || 1];
  if (dv.getInt16(252, le) > 0) {
    const b = f(256), c = f(260), d = f(264);
    const a = Math.sqrt(Math.max(0, 1 - b * b - c * c - d * d));
    const qfac = pixdim[0] < 0 ? -1 : 1;
    const R = [
      [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
      [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
      [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ];
    const s = [dx, dy, qfac * dz];
    return [0, 1, 2].map((r) => [R[r][0] * s[0], R[r][1] * s[1], R[r][2] * s[2], f(268 + 4 * r)]) as Affine;
  }
  return [[dx, 0, 0, 0], [0, dy, 0, 0], [0, 0, dz, 0]];
}

/** The voxel axis whose direction has the largest component along world axis w, among `from`. */
const axisAlong = (m: Affine, w: number, from: number[]): number => from.reduce((best, a) => (Math.abs(m[w][a]) > Math.abs(m[w][best]) ? a : best));

/**
 * The axial slices of a single-file NIfTI-1 volume (inflated), top to bottom as stored, each in the lung window
 * with its HU mapping. Throws NiftiError for what cannot be read, with what is wrong.
 */
export function niftiSlices(b: Uint8Array, window: LungWindow = DEFAULT_LUNG_WINDOW, maxVoxels = Infinity): NiftiSlice[] {
  if (!isNifti(b)) throw new NiftiError('not a NIfTI-1 image (no 348-byte header with the n+1 magic)');
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = dv.getInt32(0, true) === HEADER;
  if (b[345] === 0x69) throw new NiftiError('a NIfTI header of a .hdr/.img pair: the image is in the .img file; save the volume as one .nii file');
  const dim = [0, 1, 2, 3, 4, 5, 6, 7].map((k) => dv.getInt16(40 + 2 * k, le));
  const [nx, ny, nz] = [dim[1], dim[2], dim[0] >= 3 ? dim[3] : 1];
  if (dim[0] < 2 || nx < 1 || ny < 1 || nz < 1) throw new NiftiError(`a NIfTI volume of ${dim[0]} dimensions (${dim.slice(1, 1 + Math.max(0, dim[0])).join(' x ')}): not a CT volume`);
  for (let k = 4; k <= dim[0]; k++) if (dim[k] > 1) throw new NiftiError(`a ${dim[0]}-D NIfTI volume (${dim.slice(1, dim[0] + 1).join(' x ')}): only one 3-D volume per file is read`);
  const type = TYPES[dv.getInt16(70, le)];
  if (!type) throw new NiftiError(`a NIfTI volume of datatype ${dv.getInt16(70, le)}: not supported (integers or floats of one channel are)`);
  const voxels = nx * ny * nz;
  if (voxels > maxVoxels) throw new NiftiError(`a NIfTI volume of ${nx} x ${ny} x ${nz} = ${Math.round(voxels / 1e6)} million voxels, over the limit of ${Math.round(maxVoxels / 1e6)} million`);
  const offset = Math.max(HEADER + 4, Math.floor(dv.getFloat32(108, le)));
  if (offset + voxels * type.size > b.length) throw new NiftiError(`truncated NIfTI volume: ${nx} x ${ny} x ${nz} ${type.name} voxels need ${offset + voxels * type.size} bytes, the file has ${b.length}`);
  let slope = dv.getFloat32(112, le), inter = dv.getFloat32(116, le);
  if (!Number.isFinite(slope) || slope === 0) { slope = 1; inter = 0; }
  if (!Number.isFinite(inter)) inter = 0;
  const hu = (v: number) => v * slope + inter;

  // The volume must read as HU: a histogram of every 7th voxel, shifted into 16 bits as grey16.ts reads them.
  const hist = new Uint32Array(65536);
  let counted = 0;
  for (let v = 0; v < voxels; v += 7, counted++) hist[Math.max(0, Math.min(65535, Math.round(hu(type.get(dv, offset + v * type.size, le))) + 32768))]++;
  if (!readsAsCtNumbers(hist, counted, 32768)) {
    throw new NiftiError('a NIfTI volume whose values do not read as Hounsfield units (no soft-tissue peak near 0 HU with air or lung below -600 HU): a CT volume in HU is needed');
  }

  // Radiological display: the slice axis is the voxel axis closest to superior-inferior; columns run towards the
  // patient's left (-x in RAS), rows towards posterior (-y).
  const m = affineOf(dv, le);
  const sAxis = axisAlong(m, 2, [0, 1, 2]);
  const rest = [0, 1, 2].filter((a) => a !== sAxis);
  const cAxis = axisAlong(m, 0, rest);
  const rAxis = rest.find((a) => a !== cAxis)!;
  const n = [nx, ny, nz];
  const stride = [1, nx, nx * ny];
  const W = n[cAxis], H = n[rAxis];
  const flipC = m[0][cAxis] > 0, flipR = m[1][rAxis] > 0;
  const lut = (v: number) => windowValue(hu(v), window);
  const slices: NiftiSlice[] = [];
  for (let s = 0; s < n[sAxis]; s++) {
    const data = new Uint8Array(W * H);
    for (let r = 0; r < H; r++) {
      const ri = flipR ? H - 1 - r : r;
      for (let c = 0; c < W; c++) {
        const ci = flipC ? W - 1 - c : c;
        data[r * W + c] = lut(type.get(dv, offset + (s * stride[sAxis] + ri * stride[rAxis] + ci * stride[cAxis]) * type.size, le));
      }
    }
    // The slice centre's superior coordinate.
    const centre = [0, 0, 0];
    centre[sAxis] = s; centre[cAxis] = (W - 1) / 2; centre[rAxis] = (H - 1) / 2;
    const position = m[2][0] * centre[0] + m[2][1] * centre[1] + m[2][2] * centre[2] + m[2][3];
    slices.push({ image: { width: W, height: H, data, hu: huOfWindow(window) }, position });
  }
  return slices;
}
