/**
 * The wasm backward conv kernels (src/train/engine/conv-grads.ts) against tfjs's pure-JS 'cpu'
 * backend: gradients of a random linear loss of conv2d / depthwiseConv2d with respect to the
 * input and the filter, same seeded inputs on both backends, relative error < 1e-4.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initTf, tf } from '../src/model/tf-backend.js';
import { registerWasmConvGradients, WASM_CONV_GRAD_KERNELS } from '../src/train/engine/conv-grads.js';
import { Rng } from '../src/util/prng.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
interface Case { kind: 'conv' | 'dw'; n: number; h: number; w: number; cin: number; cout: number; k: number; s: number; pad: Pad }

const TOL = 1e-4;
const worst = new Map<string, number>();

function randoms(rng: Rng, size: number): Float32Array {
  const a = new Float32Array(size);
  for (let i = 0; i < size; i++) a[i] = rng.uniform(-1, 1);
  return a;
}

function relErr(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, 1e-6);
}

/** [dx, dw] of sum(conv(x, w) * r) on the current backend. */
function grads(c: Case, xv: Float32Array, wv: Float32Array, rng: Rng): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const x = tf.tensor4d(xv, [c.n, c.h, c.w, c.cin]);
    const mult = c.kind === 'dw' ? c.cout / c.cin : 0;
    const w = tf.tensor4d(wv, c.kind === 'conv' ? [c.k, c.k, c.cin, c.cout] : [c.k, c.k, c.cin, mult]);
    const conv = (a: tf.Tensor4D, b: tf.Tensor4D): tf.Tensor4D =>
      c.kind === 'conv' ? tf.conv2d(a, b, c.s, c.pad as never) : tf.depthwiseConv2d(a, b, c.s, c.pad as never);
    const outShape = tf.tidy(() => conv(x, w).shape);
    const r = tf.tensor(randoms(rng, outShape.reduce((p, q) => p * q, 1)), outShape);
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), r)));
    const [dx, dw] = g([x, w]);
    return [dx.dataSync() as Float32Array, dw.dataSync() as Float32Array];
  });
}

async function check(c: Case, seed: number): Promise<void> {
  const mult = c.kind === 'dw' ? c.cout / c.cin : 0;
  const xSize = c.n * c.h * c.w * c.cin;
  const wSize = c.kind === 'conv' ? c.k * c.k * c.cin * c.cout : c.k * c.k * c.cin * mult;
  const rng = new Rng(seed);
  const xv = randoms(rng, xSize), wv = randoms(rng, wSize);

  await tf.setBackend('cpu');
  const [dxRef, dwRef] = grads(c, xv, wv, new Rng(seed + 1));
  await tf.setBackend('wasm');
  const before = tf.memory().numTensors;
  const [dx, dw] = grads(c, xv, wv, new Rng(seed + 1));
  assert.equal(tf.memory().numTensors, before, `tensors leaked for ${JSON.stringify(c)}`);

  const ex = relErr(dx, dxRef), ew = relErr(dw, dwRef);
  const kx = c.kind === 'conv' ? 'Conv2DBackpropInput' : 'DepthwiseConv2dNativeBackpropInput';
  const kw = c.kind === 'conv' ? 'Conv2DBackpropFilter' : 'DepthwiseConv2dNativeBackpropFilter';
  worst.set(kx, Math.max(worst.get(kx) ?? 0, ex));
  worst.set(kw, Math.max(worst.get(kw) ?? 0, ew));
  const label = `${c.kind} k${c.k} s${c.s} pad=${JSON.stringify(c.pad)} x=[${c.n},${c.h},${c.w},${c.cin}] cout=${c.cout}`;
  assert.ok(ex < TOL, `${label}: dx relative error ${ex}`);
  assert.ok(ew < TOL, `${label}: dw relative error ${ew}`);
}

function cases(): Case[] {
  const out: Case[] = [];
  const rng = new Rng(7);
  const odd = (lo: number, hi: number): number => lo + 2 * rng.int((hi - lo) / 2 + 1); // odd in [lo, hi] for odd lo
  for (const kind of ['conv', 'dw'] as const) {
    for (const k of [1, 3]) {
      for (const s of [1, 2]) {
        for (const pad of ['same', 'valid', 1] as Pad[]) {
          const cin = 3 + rng.int(6);
          out.push({ kind, n: 2 + rng.int(2), h: odd(5, 13), w: odd(5, 13), cin, cout: kind === 'conv' ? 2 + rng.int(7) : cin, k, s, pad });
        }
      }
    }
    // Explicit asymmetric padding, and an even-sized input with 'same' (asymmetric SAME padding).
    out.push({ kind, n: 2, h: 9, w: 7, cin: 4, cout: kind === 'conv' ? 5 : 4, k: 3, s: 2, pad: [[0, 0], [2, 0], [1, 2], [0, 0]] });
    out.push({ kind, n: 3, h: 8, w: 10, cin: 5, cout: kind === 'conv' ? 3 : 5, k: 3, s: 2, pad: 'same' });
  }
  // Channel multiplier 2 (depthwise), on top of the brief's multiplier-1 cases.
  out.push({ kind: 'dw', n: 2, h: 7, w: 9, cin: 3, cout: 6, k: 3, s: 2, pad: 'same' });
  return out;
}

before(async () => {
  await initTf();
  registerWasmConvGradients();
  registerWasmConvGradients(); // idempotent
});

test('the four kernels are registered on wasm', () => {
  for (const name of WASM_CONV_GRAD_KERNELS) assert.ok(tf.getKernel(name, 'wasm'), name);
});

test('wasm conv gradients match the cpu backend (relative error < 1e-4)', async () => {
  let seed = 100;
  for (const c of cases()) await check(c, seed += 10);
  for (const name of WASM_CONV_GRAD_KERNELS) assert.ok(worst.has(name), `${name} not exercised`);
  console.log('max relative error per kernel:', Object.fromEntries([...worst].map(([k, v]) => [k, Number(v.toExponential(2))])));
});

test('a 1x1 conv layer at MobileNetV2 size and a 3x3 depthwise layer match the cpu backend', async () => {
  await check({ kind: 'conv', n: 2, h: 7, w: 7, cin: 96, cout: 160, k: 1, s: 1, pad: 'same' }, 900);
  await check({ kind: 'dw', n: 2, h: 15, w: 15, cin: 64, cout: 64, k: 3, s: 2, pad: 'same' }, 910);
});

test('dilation > 1 and NCHW are refused with a clear error', async () => {
  await tf.setBackend('wasm');
  tf.tidy(() => {
    const x = tf.zeros([1, 5, 5, 2]);
    const dy = tf.zeros([1, 5, 5, 2]);
    assert.throws(
      () => tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy },
        { strides: 1, pad: 'same', dilations: 2, filterShape: [3, 3, 2, 1] }),
      /only dilation 1 is supported/);
    assert.throws(
      () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
        { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 2, 2] }),
      /only dataFormat 'NHWC'/);
  });
});
