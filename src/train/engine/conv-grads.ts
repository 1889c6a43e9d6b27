/**
 * Backward convolution kernels for tfjs's WebAssembly backend, so that tf.grad through
 * tf.conv2d / tf.depthwiseConv2d (and so fine-tuning conv nets) works on 'wasm'.
 *
 * @tensorflow/tfjs-backend-wasm 4.22 registers no Conv2DBackpropFilter,
 * DepthwiseConv2dNativeBackpropFilter or DepthwiseConv2dNativeBackpropInput kernel, and
 * its Conv2DBackpropInput is a scalar C++ loop. The kernels here compose ops the wasm
 * backend runs with XNNPACK:
 *
 *   - Conv2DBackpropFilter: im2col in one XNNPACK pass — a depthwise conv of x with a
 *     one-hot [kh, kw, Cin, kh*kw] filter, with the layer's strides and padding, gives the
 *     patches [N*OH*OW, Cin*kh*kw] — then ONE matMul with dy over the N*OH*OW rows (the
 *     smaller operand transposed explicitly: wasm's matMul is ~10x slower with transpose
 *     flags). 1x1 stride-1 unpadded: no im2col, x itself is the patch matrix.
 *   - Conv2DBackpropInput: a transposed convolution written as a forward conv2d, stride 1,
 *     of the output gradient (zeros inserted between its pixels when stride > 1) with the
 *     spatially flipped, in/out-swapped kernel; the border is explicit padding of that
 *     conv (or a crop when negative). 1x1 kernels: dy . W^T as a 1x1 conv (XNNPACK GEMM)
 *     plus the same zero-insertion / border when strided or padded. Replaces the package's
 *     own Conv2DBackpropInput (scalar loop, 6-8x slower on 1x1 layers).
 *   - DepthwiseConv2dNativeBackpropFilter: dW is the correlation of x with dy per channel:
 *     one depthwise conv over the N*C planes of the padded input (x transposed to
 *     [1, H, W, N*C]) with dy as an OH x OW kernel dilated by the stride, then a sum over N.
 *   - DepthwiseConv2dNativeBackpropInput: a forward depthwiseConv2d, stride 1, of the
 *     (zero-inserted) output gradient with the flipped kernel; channel multiplier m > 1 runs
 *     over the C*m gradient channels and sums each group of m.
 *
 * NHWC only, dilation 1 only (the tfjs gradients of conv2d / depthwiseConv2d require it
 * too); strides, 'same' / 'valid' / numeric / explicit padding and dimRoundingMode are
 * handled through tfjs's own computeConv2DInfo.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

type Tensor = tf.Tensor;
type Tensor4D = tf.Tensor4D;
type TensorInfo = tf.TensorInfo;
type Backend = tf.KernelBackend;
type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
type Rounding = 'floor' | 'round' | 'ceil' | undefined;
type Conv2DInfo = tf.backend_util.Conv2DInfo;

const KERNELS = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
] as const;

/**
 * Runs `f` on engine tensors wrapping the kernel's inputs and hands its result's data
 * back as the kernel output. Intermediates are freed by tf.tidy; the input wrappers take
 * (and give back) a reference on the backend data so disposing them frees nothing.
 */
function compose(backend: Backend, inputs: TensorInfo[], f: (...ts: Tensor[]) => Tensor): TensorInfo {
  const engine = tf.engine();
  const out = tf.tidy(() => {
    const ts = inputs.map((info) => {
      backend.incRef(info.dataId);
      return engine.makeTensorFromTensorInfo(info, backend);
    });
    return f(...ts);
  });
  // Move ownership from the engine tensor `out` to the kernel output the engine will wrap.
  backend.incRef(out.dataId);
  const info: TensorInfo = { dataId: out.dataId, shape: out.shape.slice(), dtype: out.dtype };
  out.dispose();
  return info;
}

function checkLayout(kernel: string, dataFormat: unknown, dilations: unknown): void {
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`${kernel} (wasm, conv-grads): only dataFormat 'NHWC' is supported, got '${String(dataFormat)}'`);
  }
  if (dilations != null) {
    const d = typeof dilations === 'number' ? [dilations, dilations] : (dilations as number[]);
    if (d.some((v) => v !== 1)) {
      throw new Error(`${kernel} (wasm, conv-grads): only dilation 1 is supported, got dilations ${JSON.stringify(dilations)}`);
    }
  }
}

function convInfo(
  xShape: number[], filterShape: number[], strides: number | [number, number], pad: Pad,
  rounding: Rounding, depthwise: boolean,
): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number], filterShape as [number, number, number, number],
    strides, 1, pad as never, rounding, depthwise, 'channelsLast');
}

/**
 * im2col in one XNNPACK pass: a depthwise conv of x with a one-hot [kh, kw, C, kh*kw] filter
 * (channel multiplier kh*kw) run with the layer's own strides / padding / rounding gives
 * [N, OH, OW, C*kh*kw] with channel c*kh*kw + (i*kw + j) = x_padded[n, oh*sh + i, ow*sw + j, c]
 * (each output is one input value times 1 plus zeros: exact). A 1x1 stride-1 unpadded conv
 * needs no im2col at all.
 */
function im2col(x: Tensor4D, ci: Conv2DInfo, strides: number | [number, number], pad: Pad, rounding: Rounding): Tensor4D {
  const { filterHeight: kh, filterWidth: kw } = ci;
  const p = ci.padInfo;
  if (kh === 1 && kw === 1 && ci.strideHeight === 1 && ci.strideWidth === 1 && !p.top && !p.bottom && !p.left && !p.right) return x;
  const c = x.shape[3], taps = kh * kw;
  const oneHot = new Float32Array(taps * c * taps);
  for (let t = 0; t < taps; t++) for (let ch = 0; ch < c; ch++) oneHot[(t * c + ch) * taps + t] = 1;
  return tf.depthwiseConv2d(x, tf.tensor4d(oneHot, [kh, kw, c, taps]), strides, pad as never, 'NHWC', 1, rounding);
}

/** The [top, bottom, left, right] padding of x that makes a (OH-1)*s + k window; negative = crop. */
function windowPads(ci: Conv2DInfo): [number, number, number, number] {
  const needH = (ci.outHeight - 1) * ci.strideHeight + ci.filterHeight;
  const needW = (ci.outWidth - 1) * ci.strideWidth + ci.filterWidth;
  const { top, left } = ci.padInfo;
  return [top, needH - top - ci.inHeight, left, needW - left - ci.inWidth];
}

/** Crops x where `pads` is negative and returns the remaining (non-negative) pads. */
function cropNegative(x: Tensor4D, pads: [number, number, number, number]): { t: Tensor4D; pads: [number, number, number, number] } {
  if (pads.every((v) => v >= 0)) return { t: x, pads };
  const [n, h, w, c] = x.shape;
  const [t, b, l, r] = pads.map((v) => Math.max(0, -v));
  return { t: tf.slice(x, [0, t, l, 0], [n, h - t - b, w - l - r, c]), pads: pads.map((v) => Math.max(0, v)) as [number, number, number, number] };
}

/**
 * The transposed-conv input of a stride-1 'valid' conv with a kh x kw kernel that gives
 * the [inH, inW] input gradient: dy with (stride-1) zeros between pixels, placed at offset
 * (kh-1-top, kw-1-left) in a canvas of (inH+kh-1) x (inW+kw-1). Returns the zero-inserted
 * (or cropped) tensor and the still-missing borders [top, bottom, left, right] (all >= 0),
 * to be given to the conv as explicit padding or applied with tf.pad.
 */
function spread(dy: Tensor4D, ci: Conv2DInfo): { t: Tensor4D; pads: [number, number, number, number] } {
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w } = ci;
  let t = dy;
  const [n, oh, ow, c] = dy.shape;
  if (sh > 1 || sw > 1) {
    const t6 = tf.reshape(dy, [n, oh, 1, ow, 1, c]);
    const z = tf.pad(t6, [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]]);
    t = tf.reshape(z, [n, oh * sh, ow * sw, c]);
  }
  const before = [kh - 1 - ci.padInfo.top, kw - 1 - ci.padInfo.left];
  const after = [h + kh - 1 - before[0] - t.shape[1], w + kw - 1 - before[1] - t.shape[2]];
  return cropNegative(t, [before[0], after[0], before[1], after[1]]);
}

function explicit(p: [number, number, number, number]): Pad {
  return [[0, 0], [p[0], p[1]], [p[2], p[3]], [0, 0]];
}

// ---------------------------------------------------------------- Conv2DBackpropFilter

function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as unknown as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as { strides: number | [number, number]; pad: Pad; dataFormat?: string; dimRoundingMode?: Rounding; filterShape: number[] };
  checkLayout('Conv2DBackpropFilter', a.dataFormat, undefined);
  return compose(backend, [x, dy], (xt, dyt) => {
    const ci = convInfo(xt.shape, a.filterShape, a.strides, a.pad, a.dimRoundingMode, false);
    const [kh, kw, cin, cout] = a.filterShape;
    const k = kh * kw * cin;
    const patches = im2col(xt as Tensor4D, ci, a.strides, a.pad, a.dimRoundingMode); // [N, OH, OW, cin*kh*kw]
    const m = patches.shape[0] * patches.shape[1] * patches.shape[2];
    const p2 = tf.reshape(patches, [m, k]), dy2 = tf.reshape(dyt, [m, cout]);
    // ONE matMul over the N*OH*OW rows. The wasm matMul is ~10x slower with a transpose
    // flag than on plain operands, so transpose the smaller operand explicitly.
    const dwT = cout <= k
      ? tf.reshape(tf.matMul(tf.transpose(dy2), p2), [cout, cin, kh, kw]) // [cout, k] (k ordered cin, kh, kw)
      : tf.transpose(tf.reshape(tf.matMul(tf.transpose(p2), dy2), [cin, kh, kw, cout]), [3, 0, 1, 2]);
    return tf.transpose(dwT, [2, 3, 1, 0]);
  });
}

// ---------------------------------------------------------------- Conv2DBackpropInput

function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs as unknown as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as { strides: number | [number, number]; pad: Pad; dataFormat?: string; dimRoundingMode?: Rounding; inputShape: number[] };
  checkLayout('Conv2DBackpropInput', a.dataFormat, undefined);
  return compose(backend, [dy, filter], (dyt, wt) => {
    const ci = convInfo(a.inputShape, wt.shape, a.strides, a.pad, a.dimRoundingMode, false);
    // [kh, kw, cout, cin]; a 1x1 kernel has nothing to flip (and wasm's Reverse is slow on the large 1x1 weights).
    const oneByOne = wt.shape[0] === 1 && wt.shape[1] === 1;
    const wFlip = tf.transpose(oneByOne ? wt : tf.reverse(wt, [0, 1]), [0, 1, 3, 2]) as Tensor4D;
    if (oneByOne) {
      // 1x1: dy . W^T as a 1x1 conv (XNNPACK GEMM), then place the pixels (zeros between
      // them when strided, borders / crop when padded).
      const { t, pads } = spread(tf.conv2d(dyt as Tensor4D, wFlip, 1, 'valid'), ci);
      return pads.some((p) => p > 0) ? tf.pad(t, [[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [0, 0]]) : t;
    }
    // Transposed conv = stride-1 conv of the zero-inserted dy with the flipped kernel.
    const { t, pads } = spread(dyt as Tensor4D, ci);
    return tf.conv2d(t, wFlip, 1, explicit(pads) as never);
  });
}

// ---------------------------------------------------------------- DepthwiseConv2dNativeBackpropFilter

function depthwiseBackpropFilter({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x, dy } = inputs as unknown as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as { strides: number | [number, number]; pad: Pad; dilations?: unknown; dimRoundingMode?: Rounding; filterShape: number[] };
  checkLayout('DepthwiseConv2dNativeBackpropFilter', undefined, a.dilations);
  return compose(backend, [x, dy], (xt, dyt) => {
    const ci = convInfo(xt.shape, a.filterShape, a.strides, a.pad, a.dimRoundingMode, true);
    const [kh, kw, c, mult] = a.filterShape;
    const n = xt.shape[0];
    const [, oh, ow] = dyt.shape;
    // dW[i, j, c, q] = sum_{n, oh, ow} x_pad[n, oh*sh + i, ow*sw + j, c] * dy[n, oh, ow, c*mult + q]:
    // a correlation of x with dy, i.e. a depthwise conv over the N*C (image, channel) planes of
    // x_pad with dy as an OH x OW kernel dilated by the stride, giving kh x kw outputs; then
    // the sum over the N images.
    const { t, pads } = cropNegative(xt as Tensor4D, windowPads(ci));
    const xPlanes = tf.reshape(tf.transpose(t, [1, 2, 0, 3]), [1, t.shape[1], t.shape[2], n * c]);
    const dyPlanes = tf.reshape(tf.transpose(dyt, [1, 2, 0, 3]), [oh, ow, n * c, mult]) as Tensor4D;
    const corr = tf.depthwiseConv2d(xPlanes as Tensor4D, dyPlanes, 1, explicit(pads) as never, 'NHWC', [ci.strideHeight, ci.strideWidth]);
    return tf.reshape(tf.sum(tf.reshape(corr, [kh, kw, n, c * mult]), 2), [kh, kw, c, mult]);
  });
}

// ---------------------------------------------------------------- DepthwiseConv2dNativeBackpropInput

function depthwiseBackpropInput({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { dy, filter } = inputs as unknown as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as { strides: number | [number, number]; pad: Pad; dilations?: unknown; dimRoundingMode?: Rounding; inputShape: number[] };
  checkLayout('DepthwiseConv2dNativeBackpropInput', undefined, a.dilations);
  return compose(backend, [dy, filter], (dyt, wt) => {
    const ci = convInfo(a.inputShape, wt.shape, a.strides, a.pad, a.dimRoundingMode, true);
    const [kh, kw, c, mult] = wt.shape;
    const { t, pads } = spread(dyt as Tensor4D, ci);
    const wFlip = tf.reshape(tf.reverse(wt, [0, 1]), [kh, kw, c * mult, 1]) as Tensor4D;
    const dx = tf.depthwiseConv2d(t, wFlip, 1, explicit(pads) as never);
    if (mult === 1) return dx;
    const [n, h, w] = dx.shape;
    return tf.sum(tf.reshape(dx, [n, h, w, c, mult]), 4);
  });
}

// ---------------------------------------------------------------- registration

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: Backend; attrs?: tf.NamedAttrMap };

const FUNCS: Record<(typeof KERNELS)[number], (args: KernelArgs) => TensorInfo> = {
  Conv2DBackpropFilter: conv2DBackpropFilter,
  Conv2DBackpropInput: conv2DBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: depthwiseBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: depthwiseBackpropInput,
};

let registered = false;

/**
 * Registers the four backward conv kernels for the 'wasm' backend (replacing the
 * package's scalar Conv2DBackpropInput). Idempotent. Call it before or after initTf().
 */
export function registerWasmConvGradients(): void {
  if (registered) return;
  for (const kernelName of KERNELS) {
    if (tf.getKernel(kernelName, 'wasm') != null) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: FUNCS[kernelName] as unknown as tf.KernelFunc });
  }
  registered = true;
}

/** The kernel names this module registers (for tests and diagnostics). */
export const WASM_CONV_GRAD_KERNELS: readonly string[] = KERNELS;
