/**
 * Forward + backward time of MobileNetV2-like conv layers, batch 16: tfjs-wasm with the backward
 * kernels of src/train/engine/conv-grads.ts vs tfjs's pure-JS 'cpu' backend; and the package's
 * own (scalar C++) wasm Conv2DBackpropInput vs ours.
 *
 *   node dist/bench/conv-grads.bench.js [--reps N]
 */
import { benchArgs } from './args.js';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { initTf, tf } from '../src/model/tf-backend.js';
import { registerWasmConvGradients } from '../src/train/engine/conv-grads.js';
import { Rng } from '../src/util/prng.js';

const { values } = benchArgs(import.meta.url, { options: { reps: { type: 'string' }, batch: { type: 'string' } } });
const REPS = Number(values.reps ?? 5);
const BATCH = Number(values.batch ?? 16);

interface Layer { name: string; kind: 'conv' | 'dw'; h: number; cin: number; cout: number; k: number; s: number }
const LAYERS: Layer[] = [
  { name: '1x1 conv 96->576 @14x14', kind: 'conv', h: 14, cin: 96, cout: 576, k: 1, s: 1 },
  { name: 'dw 3x3 s1 @14x14x576', kind: 'dw', h: 14, cin: 576, cout: 576, k: 3, s: 1 },
  { name: 'dw 3x3 s2 @14x14x576', kind: 'dw', h: 14, cin: 576, cout: 576, k: 3, s: 2 },
  { name: '1x1 conv 576->160 @7x7', kind: 'conv', h: 7, cin: 576, cout: 160, k: 1, s: 1 },
  { name: '3x3 conv s2 3->32 @112x112 (stem)', kind: 'conv', h: 112, cin: 3, cout: 32, k: 3, s: 2 },
];

function randoms(seed: number, size: number): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = rng.uniform(-1, 1);
  return a;
}

function wShape(l: Layer): [number, number, number, number] {
  return l.kind === 'conv' ? [l.k, l.k, l.cin, l.cout] : [l.k, l.k, l.cin, 1];
}

/** Median milliseconds of `reps` runs of fn (after one warm-up unless warm is false). */
function timeMs(reps: number, fn: () => void, warm = true): number {
  if (warm) fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

/** Forward + backward (dx and dw) of sum(conv(x, w) * r), data read back. */
function fwdBwd(l: Layer, xv: Float32Array, wv: Float32Array): () => void {
  return () => tf.tidy(() => {
    const x = tf.tensor4d(xv, [BATCH, l.h, l.h, l.cin]);
    const w = tf.tensor4d(wv, wShape(l));
    const conv = (a: tf.Tensor, b: tf.Tensor): tf.Tensor4D => l.kind === 'conv'
      ? tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, l.s, 'same')
      : tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, l.s, 'same');
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.mean(tf.square(conv(a, b))))([x, w]);
    dx.dataSync();
    dw.dataSync();
  });
}

function forwardOnly(l: Layer, xv: Float32Array, wv: Float32Array): () => void {
  return () => tf.tidy(() => {
    const x = tf.tensor4d(xv, [BATCH, l.h, l.h, l.cin]);
    const w = tf.tensor4d(wv, wShape(l));
    const y = l.kind === 'conv' ? tf.conv2d(x, w, l.s, 'same') : tf.depthwiseConv2d(x, w, l.s, 'same');
    y.dataSync();
  });
}

/** One Conv2DBackpropInput kernel call through `kernelFunc` (the native one or ours). */
function backpropInputOnly(l: Layer, kernelFunc: tf.KernelFunc, dyv: Float32Array, wv: Float32Array): () => void {
  return () => tf.tidy(() => {
    const oh = Math.ceil(l.h / l.s);
    const dy = tf.tensor4d(dyv, [BATCH, oh, oh, l.cout]);
    const w = tf.tensor4d(wv, wShape(l));
    const out = kernelFunc({
      inputs: { dy, filter: w }, backend: tf.backend(),
      attrs: { strides: l.s, pad: 'same', dataFormat: 'NHWC', inputShape: [BATCH, l.h, l.h, l.cin] },
    }) as tf.TensorInfo;
    const t = tf.engine().makeTensorFromTensorInfo(out);
    t.dataSync();
  });
}

async function main(): Promise<void> {
  await initTf();
  const nativeInput = tf.getKernel('Conv2DBackpropInput', 'wasm')?.kernelFunc;
  registerWasmConvGradients();
  const oursInput = tf.getKernel('Conv2DBackpropInput', 'wasm')!.kernelFunc;

  console.log(`conv forward+backward (dx, dw) of mean(conv(x, w)^2), batch ${BATCH}, 'same' padding; wasm: median of ${REPS} runs ` +
    `after a warm-up (${getThreadsCount()} thread(s)); cpu: one run (it is slow)`);
  const rows: Record<string, string | number>[] = [];
  for (const [i, l] of LAYERS.entries()) {
    const xv = randoms(10 + i, BATCH * l.h * l.h * l.cin);
    const wv = randoms(20 + i, wShape(l).reduce((a, b) => a * b, 1));
    await tf.setBackend('wasm');
    const fwd = timeMs(REPS, forwardOnly(l, xv, wv));
    const wasm = timeMs(REPS, fwdBwd(l, xv, wv));
    await tf.setBackend('cpu');
    const cpu = timeMs(1, fwdBwd(l, xv, wv), false);
    rows.push({
      layer: l.name, 'wasm fwd ms': +fwd.toFixed(1), 'wasm fwd+bwd ms': +wasm.toFixed(1),
      'cpu fwd+bwd ms': +cpu.toFixed(1), 'cpu / wasm': +(cpu / wasm).toFixed(1),
    });
  }
  console.table(rows);

  if (nativeInput) {
    await tf.setBackend('wasm');
    const rows2: Record<string, string | number>[] = [];
    for (const [i, l] of LAYERS.entries()) {
      if (l.kind !== 'conv') continue;
      const oh = Math.ceil(l.h / l.s);
      const dyv = randoms(30 + i, BATCH * oh * oh * l.cout);
      const wv = randoms(20 + i, wShape(l).reduce((a, b) => a * b, 1));
      const nat = timeMs(REPS, backpropInputOnly(l, nativeInput, dyv, wv));
      const our = timeMs(REPS, backpropInputOnly(l, oursInput, dyv, wv));
      rows2.push({ layer: l.name, 'package wasm ms': +nat.toFixed(1), 'ours ms': +our.toFixed(1), 'package / ours': +(nat / our).toFixed(1) });
    }
    console.log('Conv2DBackpropInput alone on wasm: the package\'s scalar kernel vs ours');
    console.table(rows2);
  }
}

await main();
