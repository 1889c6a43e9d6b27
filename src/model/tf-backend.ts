/** Starts tfjs on the WebAssembly backend (XNNPACK) once per process. */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

let ready: Promise<void> | undefined;

export function initTf(): Promise<void> {
  ready ??= (async () => {
    const ok = await tf.setBackend('wasm');
    if (!ok) throw new Error('tfjs: the wasm backend failed to start');
    await tf.ready();
    tf.enableProdMode();
  })();
  return ready;
}

export { tf };
