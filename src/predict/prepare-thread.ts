/**
 * Batch scoring's preparation thread: a worker_threads worker (prepare-worker.ts) that prepares decoded slices
 * (polarity, orientation, lungs, involvement, views: prepareSlice) while this thread runs the model.
 * onnxruntime-node's session.run blocks the thread that calls it, so on one thread the lung stage and the model
 * only take turns; on two they overlap. The worker runs the same code on the same pixels: the same outputs.
 */
import { Worker } from 'node:worker_threads';
import type { GreyImage } from '../types.js';
import type { ModelJson } from '../model/model-files.js';
import type { ScorableSlice } from '../model/engine.js';

/** What prepares a batch of decoded slices for the model: the engine itself (inline) or a PrepareThread. */
export interface SlicePreparer {
  prepare(images: GreyImage[]): Promise<ScorableSlice[]>;
}

/** The worker's start-up data. `lungStage: false` renders the views only (the bench's reference without the lung stage). */
export interface PrepareThreadData {
  json: ModelJson;
  lungStage: boolean;
}

export interface PrepareRequest {
  id: number;
  images: GreyImage[];
}

/** A failure is sent as its name and message (an Error does not cross threads with its class). */
export type PrepareReply = { id: number; slices: ScorableSlice[] } | { id: number; error: { name: string; message: string } };

/**
 * The buffers of typed arrays that own their whole buffer, once each: moved to the other thread rather than
 * copied. A view into a larger or shared buffer (a frame of a multi-frame DICOM, Node's small-Buffer pool) is
 * copied instead, since moving it would empty its neighbours too. Anything else is left to the message's copy.
 */
export function transferables(arrays: Iterable<ArrayBufferView | null | undefined>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const a of arrays) {
    if (ArrayBuffer.isView(a) && a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength) out.add(a.buffer);
  }
  return [...out];
}

/** Posts with the buffers moved; if the platform refuses to move one (a buffer marked untransferable), copies all. */
export function postMoving(target: { postMessage(value: unknown, transfer?: ArrayBuffer[]): void }, value: unknown, arrays: Iterable<ArrayBufferView | null | undefined>): void {
  const transfer = transferables(arrays);
  try {
    target.postMessage(value, transfer);
  } catch (e) {
    if ((e as Error).name !== 'DataCloneError') throw e;
    target.postMessage(value);
  }
}

/** Rebuilds a failure from the worker (same name and message as the error thrown there). */
function errorOf(e: { name: string; message: string }): Error {
  const err = e.name === 'RangeError' ? new RangeError(e.message) : e.name === 'TypeError' ? new TypeError(e.message) : new Error(e.message);
  if (err.name !== e.name) err.name = e.name;
  return err;
}

/**
 * One worker preparing batches in the order they are sent. The images' pixel buffers are moved to the worker
 * (the caller must not read them afterwards) and the views' buffers moved back. A batch whose preparation throws
 * is rejected with that error; a worker that dies rejects every batch in hand and any sent later.
 */
export class PrepareThread implements SlicePreparer {
  private readonly pending = new Map<number, { resolve: (s: ScorableSlice[]) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private dead: Error | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: PrepareReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if ('error' in reply) p.reject(errorOf(reply.error));
      else p.resolve(reply.slices);
    });
    worker.on('error', (e) => this.fail(e instanceof Error ? e : new Error(String(e))));
    worker.on('exit', (code) => this.fail(new Error(`the slice preparation thread stopped (exit code ${code})`)));
  }

  static start(json: ModelJson, opts: { lungStage?: boolean } = {}): PrepareThread {
    const workerData: PrepareThreadData = { json, lungStage: opts.lungStage ?? true };
    return new PrepareThread(new Worker(new URL('./prepare-worker.js', import.meta.url), { workerData }));
  }

  prepare(images: GreyImage[]): Promise<ScorableSlice[]> {
    if (this.dead) return Promise.reject(this.dead);
    if (images.length === 0) return Promise.resolve([]);
    const id = this.nextId++;
    const request: PrepareRequest = { id, images };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      postMoving(this.worker, request, images.map((img) => img.data));
    });
  }

  private fail(e: Error): void {
    this.dead ??= e;
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }

  /** Stops the worker; batches still in hand are rejected. */
  async close(): Promise<void> {
    this.fail(new Error('the slice preparation thread was closed'));
    await this.worker.terminate();
  }
}
