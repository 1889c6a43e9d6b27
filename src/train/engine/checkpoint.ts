/**
 * Checkpoint files: a JSON header (whatever the caller needs to resume: epoch, history, fingerprint) and named
 * Float32Arrays, in one file written atomically (temporary file in the same folder, fsync, rename), so a run
 * killed at any moment leaves either the previous checkpoint or the new one, never half of one.
 *
 * Layout: "CCKP" | u32 header length | header JSON (utf8) | zero padding to 4 bytes | float32 arrays in the
 * order the header lists them.
 */
import { open, readFile, rename, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { TensorState } from './finetune.js';

const MAGIC = 'CCKP';

export interface Checkpoint<M> {
  meta: M;
  arrays: TensorState;
}

export function encodeCheckpoint<M>(c: Checkpoint<M>): Uint8Array {
  const names = Object.keys(c.arrays);
  const header = new TextEncoder().encode(JSON.stringify({ meta: c.meta, arrays: names.map((n) => [n, c.arrays[n].length]) }));
  const start = Math.ceil((8 + header.length) / 4) * 4;
  const total = start + names.reduce((s, n) => s + 4 * c.arrays[n].length, 0);
  const out = new Uint8Array(total);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(4, header.length, true);
  out.set(header, 8);
  let o = start;
  for (const n of names) {
    const a = c.arrays[n];
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o);
    o += a.byteLength;
  }
  return out;
}

export function decodeCheckpoint<M>(b: Uint8Array): Checkpoint<M> {
  if (b.length < 8 || new TextDecoder().decode(b.subarray(0, 4)) !== MAGIC) throw new Error('not a covid-ct checkpoint');
  const len = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + len))) as { meta: M; arrays: [string, number][] };
  let o = Math.ceil((8 + len) / 4) * 4;
  const arrays: TensorState = {};
  for (const [name, n] of header.arrays) {
    if (o + 4 * n > b.length) throw new Error('checkpoint is truncated');
    arrays[name] = new Float32Array(b.buffer.slice(b.byteOffset + o, b.byteOffset + o + 4 * n));
    o += 4 * n;
  }
  return { meta: header.meta, arrays };
}

export async function saveCheckpoint<M>(file: string, c: Checkpoint<M>): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(encodeCheckpoint(c));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
}

/** The checkpoint in `file`, or undefined when there is none (or it is unreadable: then training restarts). */
export async function loadCheckpoint<M>(file: string): Promise<Checkpoint<M> | undefined> {
  try {
    return decodeCheckpoint<M>(new Uint8Array(await readFile(file)));
  } catch {
    return undefined;
  }
}

export async function removeCheckpoint(file: string): Promise<void> {
  await rm(file, { force: true });
}
