/** Picks an inference engine for a model folder. onnxruntime is the default: same numbers, several times faster. */
import type { Engine, EngineName, EngineOptions } from './engine.js';
import { UserError } from '../util/errors.js';

export const ENGINES: readonly EngineName[] = ['onnx', 'tfjs'];

export async function loadEngine(dir: string, name: string = 'onnx', opts: EngineOptions = {}): Promise<Engine> {
  if (name === 'onnx') return (await import('./onnx-engine.js')).OnnxClassifier.load(dir, opts);
  if (name === 'tfjs') return (await import('./classifier.js')).Classifier.load(dir);
  throw new UserError(`--engine must be one of ${ENGINES.join(', ')}, got "${name}"`);
}
