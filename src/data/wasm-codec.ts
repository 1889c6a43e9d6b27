/**
 * Loads an Emscripten-built decoder from npm once, on first use, so that commands and pages that never meet a
 * compressed DICOM do not pay for compiling its wasm. The module's console output is captured rather than printed:
 * decoders report problems through it (libjpeg's "Premature end of JPEG file"), and we turn the last line into
 * the error message instead of letting it reach the terminal.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface LoadedCodec<M> {
  module: M;
  /** The last line the decoder printed since `clearMessage()`, if any. */
  lastMessage(): string | undefined;
  clearMessage(): void;
}

type Factory<M> = (options: Record<string, unknown>) => Promise<M>;

/** A memoised loader for the Emscripten factory exported by `specifier` (a package export such as 'pkg/decodewasmjs'). */
export function emscriptenLoader<M>(specifier: string): () => Promise<LoadedCodec<M>> {
  let loading: Promise<LoadedCodec<M>> | undefined;
  return () => {
    loading ??= (async () => {
      let message: string | undefined;
      const factory = require(specifier) as Factory<M>;
      const module = await factory({ print: (s: string) => { message = s; }, printErr: (s: string) => { message = s; } });
      return { module, lastMessage: () => message, clearMessage: () => { message = undefined; } };
    })();
    loading.catch(() => { loading = undefined; });
    return loading;
  };
}

/** Plain words for whatever an Emscripten module threw (an Error, a string, or a C++ exception pointer), if it says any. */
export function wasmErrorText(e: unknown, module: { getExceptionMessage?: (e: unknown) => unknown }, printed?: string): string | undefined {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  if (typeof e === 'number' && module.getExceptionMessage) {
    try {
      const m = module.getExceptionMessage(e);
      const text = Array.isArray(m) ? m.filter(Boolean).join(': ') : String(m);
      if (text) return text;
    } catch { /* fall through to the printed line */ }
  }
  return printed;
}

/** "the X decoder rejected the stream: why", or "... (corrupt data)" when the decoder gave no reason. */
export function rejected(decoder: string, reason: string | undefined): Error {
  return new Error(`the ${decoder} rejected the stream${reason ? `: ${reason}` : ' (corrupt data)'}`);
}

/** What every cornerstone decoder object has (codec-charls, codec-openjpeg, codec-libjpeg-turbo-8bit). */
export interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  delete(): void;
}

type ErrorModule = { getExceptionMessage?: (e: unknown) => unknown };

/**
 * One frame through a cornerstone decoder: `data` is copied into the wasm heap and decoded, `read` copies the
 * result out (before delete() frees the heap), and any failure becomes "the NAME rejected the stream: why".
 */
export async function decodeWith<M extends ErrorModule, D extends WasmDecoder, R>(
  load: () => Promise<LoadedCodec<M>>, name: string, create: (module: M) => D, data: Uint8Array, read: (decoder: D) => R,
): Promise<R> {
  const { module, lastMessage, clearMessage } = await load();
  clearMessage();
  const decoder = create(module);
  try {
    decoder.getEncodedBuffer(data.length).set(data);
    decoder.decode();
    return read(decoder);
  } catch (e) {
    throw rejected(name, wasmErrorText(e, module, lastMessage()));
  } finally {
    decoder.delete();
  }
}
