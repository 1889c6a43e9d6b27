/**
 * What the occlusion map (src/explain/lung-evidence.ts) costs per slice against the plain CAM, in the same run:
 * onnxruntime-node (the server, the CLI, PACS) and onnxruntime-web's wasm build on one thread (what the page runs
 * on the device; here in Node, the same wasm). Only the model's runs are timed: the lungs and views are prepared
 * once per slice beforehand (the same for both maps).
 *
 *   node dist/bench/evidence-cost.bench.js [--split val] [--limit 20] [--data DIR]
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import { readAndDecodeGrey } from '../src/data/decode.js';
import { OnnxClassifier } from '../src/model/onnx-engine.js';
import { logitsOfCams, mapMethodFor, occlusionEvidence, OCCLUSION_GRID } from '../src/explain/lung-evidence.js';
import { benchArgs } from './args.js';

const { values: argv } = benchArgs(import.meta.url, { options: { data: { type: 'string' }, split: { type: 'string' }, limit: { type: 'string' } } });
const dataDir = argv.data ?? process.env.COVID_CT_DATA ?? '../shared/data/covid-ct';
const split = (argv.split ?? 'val') as 'val';
if (split !== 'val') throw new Error('this bench runs on val only');
const limit = Number(argv.limit ?? 20);

interface WebTensor { data: Float32Array; dims: readonly number[] }
interface WebOrt {
  env: { wasm: { numThreads: number } };
  InferenceSession: { create(bytes: Uint8Array, opts?: Record<string, unknown>): Promise<{ run(f: Record<string, unknown>): Promise<Record<string, WebTensor>>; release(): Promise<void> }> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
}

async function main(): Promise<void> {
  const dir = 'models/default';
  const engine = await OnnxClassifier.load(dir);
  const web = (await import('onnxruntime-web')) as unknown as WebOrt;
  web.env.wasm.numThreads = 1; // as the page (on-device.ts)
  const session = await web.InferenceSession.create(new Uint8Array(await readFile(path.join(dir, 'model.onnx'))), { executionProviders: ['wasm'] });
  const S = engine.json.backbone.inputSize;
  const lungs = engine.json.preprocessing.lungs!;
  // The page's chunked run (on-device.ts runChunks): 8 views a call.
  const webLogits = async (views: Float32Array[]): Promise<Float64Array> => {
    const out = new Float64Array(views.length);
    for (let i = 0; i < views.length; i += 8) {
      const chunk = views.slice(i, i + 8);
      const input = new Float32Array(chunk.length * S * S);
      chunk.forEach((v, k) => input.set(v, k * S * S));
      const r = await session.run({ views: new web.Tensor('float32', input, [chunk.length, 1, S, S]) });
      out.set(logitsOfCams(r.cam.data, r.cam.dims[2], chunk.length), i);
    }
    return out;
  };
  const entries = entriesOf(await loadDataset(dataDir), split).slice(0, limit);
  const t = { nodeCam: [] as number[], nodeOcc: [] as number[], webCam: [] as number[], webOcc: [] as number[], views: [] as number[] };
  for (const [k, e] of entries.entries()) {
    const [prepared] = await engine.prepare([await readAndDecodeGrey(e.path)]);
    if (mapMethodFor(engine.json.preprocessing, prepared.lungs.seg) === 'cam') continue;
    const views = prepared.views;
    let t0 = performance.now();
    await engine.explainPrepared(prepared, { method: 'cam' });
    t.nodeCam.push(performance.now() - t0);
    t0 = performance.now();
    await engine.explainPrepared(prepared);
    t.nodeOcc.push(performance.now() - t0);
    t0 = performance.now();
    const base = await webLogits(views);
    t.webCam.push(performance.now() - t0);
    let n = 0;
    await occlusionEvidence(views, base, S, lungs, async (v) => { n = v.length; return webLogits(v); });
    t.webOcc.push(performance.now() - t0);
    t.views.push(n);
    process.stderr.write(`${k + 1}/${entries.length}\r`);
  }
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  console.log(`\nmodels/default, ${t.views.length} ${split} slices with a lungs view; occlusion on ${OCCLUSION_GRID} x ${OCCLUSION_GRID} cells: ${mean(t.views).toFixed(1)} more views a slice (min ${Math.min(...t.views)}, max ${Math.max(...t.views)})\n`);
  console.log('| runtime | plain CAM (reference): ms per slice | occlusion map: ms per slice | ratio |');
  console.log('|---|---:|---:|---:|');
  console.log(`| onnxruntime-node (server, CLI, PACS; explainPrepared) | ${mean(t.nodeCam).toFixed(1)} | ${mean(t.nodeOcc).toFixed(1)} | ${(mean(t.nodeOcc) / mean(t.nodeCam)).toFixed(1)} |`);
  console.log(`| onnxruntime-web wasm, 1 thread (the page's runtime, in Node) | ${mean(t.webCam).toFixed(1)} | ${mean(t.webOcc).toFixed(1)} | ${(mean(t.webOcc) / mean(t.webCam)).toFixed(1)} |`);
  await session.release();
  engine.dispose();
}

await main();
