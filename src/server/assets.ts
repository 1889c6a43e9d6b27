/**
 * The files the server may send, fixed at start-up: a URL path maps to one file of the package. Nothing a
 * client sends is ever used as a file path.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface Asset { file: string; type: string }

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm', '.onnx': 'application/octet-stream', '.png': 'image/png',
};

/** onnxruntime-web's wasm build: the ES module and its single-threaded SIMD runtime. */
const ORT_FILES = ['ort.wasm.min.mjs', 'ort-wasm-simd-threaded.mjs', 'ort-wasm-simd-threaded.wasm'];

export function assetTable(root: string, modelDir: string): Map<string, Asset> {
  const ortDir = path.join(root, 'node_modules', 'onnxruntime-web', 'dist');
  const entries: [string, string][] = [
    ['/', path.join(root, 'src/web/index.html')],
    ['/style.css', path.join(root, 'src/web/style.css')],
    // The page's scripts: its own, and the pure modules it shares with the server (same pixels, same maps).
    ...['web/app.js', 'web/on-device.js', 'data/render-view.js', 'data/view-plan.js', 'util/prng.js', 'data/working-image.js', 'data/band-limit.js', 'explain/cam-overlay.js', 'predict/format.js', 'predict/series.js',
      // The lungs (segmentation, involvement, lungs-only view) and the reading: a lungs model's views and P on the device.
      'data/lungs.js', 'data/morphology.js', 'data/edge-blur.js', 'data/interior-blur.js', 'data/involvement.js', 'data/healthy-anchor.js', 'data/lung-view.js', 'model/reading.js', 'model/head.js',
      // "Not a chest CT slice" by texture (involvement.js's findLungs applies it): the same refusals on the device.
      'data/chest-check.js', 'data/window-check.js', 'data/reformat-check.js', 'data/histogram.js', 'data/enclosed-tissue.js', 'data/colour.js', 'data/grey16.js', 'data/png16.js', 'data/window.js',
      // The segmentation's run-based steps, its choice of the lung pair and its lungs cut out onto black (lungs.js imports them).
      'data/run-thickness.js', 'data/run-closing.js', 'data/lung-pair.js', 'data/cut-out.js', 'data/lung-shape.js', 'data/edge-lung.js', 'data/flood.js',
      // The orientation stage (a turned or upside-down slice read upright), before the lungs as on the server.
      'data/orientation.js',
      // The polarity stage (a negative read as its inverse), before the orientation stage as on the server.
      'data/polarity.js',
      // The tilt stage (a tilted slice turned level), after the orientation stage as on the server.
      'data/tilt.js',
      // A bright fill outside the scanner's field set to air (the polarity stage's first step).
      'data/fov-padding.js',
      // Which files the device leaves to the server, told by the same checks the server decodes by.
      'data/tiff.js', 'data/nifti.js', 'util/errors.js',
      // The not-CT feature distance (its vectors: /model/ood.bin, requested only when the card's reading has one).
      'model/ood.js',
      // The map of evidence of a lungs model (occlusion over the lungs view): the same map on the device.
      'explain/lung-evidence.js']
      .map((f): [string, string] => [`/js/${f}`, path.join(root, 'dist/src', f)]),
    ['/model/model.onnx', path.join(modelDir, 'model.onnx')],
    ['/model/ood.bin', path.join(modelDir, 'ood.bin')],
    ...ORT_FILES.map((f): [string, string] => [`/vendor/ort/${f}`, path.join(ortDir, f)]),
  ];
  return new Map(entries.map(([url, file]) => [url, { file, type: TYPES[path.extname(file)] ?? 'application/octet-stream' }]));
}

/** Reads an asset once and keeps it (they are small, except the model, which is read once too). */
export function assetReader(): (a: Asset) => Promise<Uint8Array> {
  const cache = new Map<string, Promise<Uint8Array>>();
  return (a) => {
    let p = cache.get(a.file);
    if (!p) {
      p = readFile(a.file).then((b) => new Uint8Array(b));
      p.catch(() => cache.delete(a.file));
      cache.set(a.file, p);
    }
    return p;
  };
}
