/**
 * Reads the ImageNet MobileNetV2 of the ONNX Model Zoo (mobilenetv2-12-int8.onnx: QLinearConv layers, BatchNorm
 * folded) and dequantises its 52 convolutions into float32 MobileNetV2 layers in tfjs layout.
 */
import type { OnnxGraph, OnnxTensor } from './onnx-proto.js';
import { readOnnxGraph } from './onnx-proto.js';
import { convLayout, type ConvLayer } from './mobilenetv2.js';

function init(g: OnnxGraph, name: string): OnnxTensor {
  const t = g.initializers.get(name);
  if (!t) throw new Error(`ONNX initializer "${name}" is missing`);
  return t;
}

/** ONNX [out, in, kh, kw] (or depthwise [C, 1, kh, kw]) -> tfjs [kh, kw, in, out] (or [kh, kw, C, 1]). */
function toTfjsLayout(src: Float64Array, dims: number[], depthwise: boolean): Float64Array {
  const [o, i, kh, kw] = dims;
  const dst = new Float64Array(src.length);
  for (let a = 0; a < o; a++) for (let b = 0; b < i; b++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
    const s = ((a * i + b) * kh + y) * kw + x;
    const d = depthwise ? (y * kw + x) * o + a : ((y * kw + x) * i + b) * o + a;
    dst[d] = src[s];
  }
  return dst;
}

/** Extracts MobileNetV2's convolutions from an int8 ONNX graph, in order, checking every shape. */
export function mobileNetV2FromOnnxGraph(g: OnnxGraph): ConvLayer[] {
  const convs = g.nodes.filter((n) => n.opType === 'QLinearConv');
  const layout = convLayout();
  if (convs.length !== layout.length) {
    throw new Error(`expected the ${layout.length} QLinearConv layers of MobileNetV2, found ${convs.length} (is this mobilenetv2-12-int8.onnx?)`);
  }
  return convs.map((node, idx) => {
    const spec = layout[idx];
    const [, xScaleName, , wName, wScaleName, wZpName, , yZpName, biasName] = node.inputs;
    const w = init(g, wName);
    const wScale = init(g, wScaleName).values;
    const wZp = init(g, wZpName).values;
    const xScale = init(g, xScaleName).values[0];
    const group = node.attributes.get('group')?.i ?? 1;
    const stride = node.attributes.get('strides')?.ints?.[0] ?? 1;
    const depthwise = group > 1;
    const [o, i, kh] = w.dims;
    const got = { kind: depthwise ? 'depthwise' : 'conv', cin: depthwise ? o : i, cout: o, kernel: kh, stride };
    if (got.kind !== spec.kind || got.cin !== spec.cin || got.cout !== spec.cout || got.kernel !== spec.kernel || got.stride !== spec.stride) {
      throw new Error(`ONNX conv ${idx} does not match MobileNetV2's ${spec.name}: ${JSON.stringify(got)}`);
    }
    // A uint8 output with zero point 0 means the quantiser fused a ReLU/ReLU6 into this conv; it must agree
    // with the architecture (projections are linear).
    const fusedRelu = init(g, yZpName).values[0] === 0;
    if (fusedRelu !== spec.relu6) throw new Error(`ONNX conv ${idx} (${spec.name}): activation does not match MobileNetV2`);
    const perChannel = wScale.length === o;
    const qT = toTfjsLayout(w.values, w.dims, depthwise);
    const q = new Int8Array(qT.length);
    const weight = new Float32Array(qT.length);
    const scale = new Float32Array(o);
    let symmetric = true;
    for (let c = 0; c < o; c++) {
      scale[c] = perChannel ? wScale[c] : wScale[0];
      if ((perChannel ? wZp[c] : wZp[0]) !== 0) symmetric = false;
    }
    for (let k = 0; k < qT.length; k++) {
      const c = k % o; // the output channel is the innermost axis in both tfjs layouts
      const zp = perChannel ? wZp[c] : wZp[0];
      q[k] = qT[k];
      weight[k] = scale[c] * (qT[k] - zp);
    }
    const bias = new Float32Array(o);
    const b = biasName ? init(g, biasName).values : new Float64Array(o);
    for (let c = 0; c < o; c++) bias[c] = b[c] * xScale * scale[c];
    return { ...spec, weight, bias, quant: symmetric ? { q, scale } : undefined };
  });
}

export function mobileNetV2FromOnnx(bytes: Uint8Array): ConvLayer[] {
  return mobileNetV2FromOnnxGraph(readOnnxGraph(bytes));
}
