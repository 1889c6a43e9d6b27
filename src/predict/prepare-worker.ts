/**
 * The worker of prepare-thread.ts: prepares each batch of decoded slices as the engine does on the main thread
 * (prepareSlice), one batch at a time in the order sent, and sends back what the reading needs, the views'
 * buffers moved.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { modelViews, prepareSlice, type ScorableSlice } from '../model/engine.js';
import type { GreyImage } from '../types.js';
import { postMoving, type PrepareReply, type PrepareRequest, type PrepareThreadData } from './prepare-thread.js';
import { tiltField } from '../data/tilt.js';

const { json, lungStage } = workerData as PrepareThreadData;
const port = parentPort;
if (!port) throw new Error('prepare-worker.js runs as a worker thread (see prepare-thread.ts)');

/** The bench's reference without the lung stage: the views alone, the lungs read as skipped. */
const SKIPPED: ScorableSlice['lungs'] = { findings: { found: false, reason: 'lung stage skipped (bench reference)', involvement: null, consolidation: null, lungPixels: null } };

async function prepareOne(img: GreyImage): Promise<ScorableSlice> {
  if (!lungStage) return { orientation: 'as-sent', polarity: 'as-sent', lungs: SKIPPED, views: await modelViews(json, img) };
  const p = await prepareSlice(json, img);
  return { orientation: p.orientation, polarity: p.polarity, ...tiltField(p.tilt), lungs: { findings: p.lungs.findings }, views: p.views };
}

async function handle(req: PrepareRequest): Promise<void> {
  let reply: PrepareReply;
  try {
    // As EngineBase.prepare: all slices of the batch, the first failure rejects the batch.
    reply = { id: req.id, slices: await Promise.all(req.images.map(prepareOne)) };
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    reply = { id: req.id, error: { name: err.name, message: err.message } };
  }
  postMoving(port!, reply, 'slices' in reply ? reply.slices.flatMap((s) => s.views) : []);
}

// One batch at a time, in order: a batch sent while one is in hand waits for it.
let queue = Promise.resolve();
port.on('message', (req: PrepareRequest) => {
  queue = queue.then(() => handle(req));
});
