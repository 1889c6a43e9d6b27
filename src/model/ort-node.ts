/**
 * onnxruntime-node, loaded with its telemetry off (ort-privacy.ts is evaluated first: ES modules run their imports
 * in order). Every module of ours imports the library from here, never directly.
 */
import './ort-privacy.js';
import * as ort from 'onnxruntime-node';

export { ort };
