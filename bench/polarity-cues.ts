/**
 * The polarity stage (src/data/polarity.ts, docs/negatives.md) on every real slice and on negatives: COVID-CT (all
 * 746) and the CT-MD sample (768 PNGs), each as sent and as a negative (255 - v), upright and turned; the degrade
 * bench's variants of every --every'th CT-MD slice as they are (none may be inverted) and as negatives of the
 * blurred, halved, JPEG and photographed copies (caught or not).
 *
 *   node dist/bench/polarity-cues.js [--every 4] [--data DIR] [--data-md DIR]
 *
 * "read right": inverted, and the picture read is the original (for an upright negative: bit-identical; for a turned
 * one: the orientation stage's upright answer for it, up to a mirror).
 */
import { readFile } from 'node:fs/promises';
import { benchArgs } from './args.js';
import { decodeGrey } from '../src/data/decode.js';
import { TURNS } from '../src/data/orientation.js';
import { invertImage, readableSlice } from '../src/data/polarity.js';
import type { GreyImage } from '../src/types.js';
import { VARIANTS } from './degrade-variants.js';
import { realCtFiles } from './real-ct.js';

const { values } = benchArgs(import.meta.url, { options: { every: { type: 'string', default: '4' }, data: { type: 'string', default: '../shared/data/covid-ct' }, 'data-md': { type: 'string', default: '../shared/data/covid-ct-md-sample' } } });
const every = Number(values.every);
const same = (a: GreyImage, b: GreyImage) => a.width === b.width && a.height === b.height && a.data.every((v, i) => v === b.data[i]);

type Row = { n: number; inverted: number; right: number; ms: number };
const rows = new Map<string, Row>();
const add = (key: string, inverted: boolean, right: boolean, ms: number) => {
  const r = rows.get(key) ?? { n: 0, inverted: 0, right: 0, ms: 0 };
  r.n++; if (inverted) r.inverted++; if (right) r.right++; r.ms += ms;
  rows.set(key, r);
};
const wrongly: string[] = [];
const timed = (img: GreyImage) => { const t = performance.now(); const s = readableSlice(img); return { s, ms: performance.now() - t }; };

const files = await realCtFiles(values.data!, values['data-md']!);
for (const f of files) {
  const g = await decodeGrey(new Uint8Array(await readFile(f.file)));
  for (const t of TURNS) {
    const turned = t.turn(g);
    const asSent = timed(turned);
    add(`${f.set} | ${t.name} | as sent`, asSent.s.polarity === 'negative', asSent.s.polarity === 'as-sent', asSent.ms);
    if (asSent.s.polarity === 'negative') wrongly.push(`${f.file} (${t.name})`);
    const neg = timed(invertImage(turned));
    // Read right: the picture read is what the same turn as sent gives (upright for an upright slice: the original).
    add(`${f.set} | ${t.name} | negative`, neg.s.polarity === 'negative', neg.s.polarity === 'negative' && same(neg.s.image, asSent.s.image), neg.ms);
  }
}
const md = files.filter((f) => f.set === 'ct-md').filter((_, i) => i % every === 0);
const NEGATED = new Set(['blur1.2', 'half', 'jpeg30', 'photo']);
for (const v of VARIANTS) {
  if (v.name === 'negative') continue;
  for (const f of md) {
    const g = await decodeGrey(await v.make(new Uint8Array(await readFile(f.file))));
    const asSent = timed(g);
    add(`degraded CT-MD | ${v.name} | as sent`, asSent.s.polarity === 'negative', asSent.s.polarity === 'as-sent', asSent.ms);
    if (asSent.s.polarity === 'negative') wrongly.push(`${f.file} (${v.name})`);
    if (!NEGATED.has(v.name)) continue;
    const neg = timed(invertImage(g));
    add(`degraded CT-MD | ${v.name} | negative`, neg.s.polarity === 'negative', neg.s.polarity === 'negative' && same(neg.s.image, asSent.s.image), neg.ms);
  }
}
console.log('| set | turn or variant | polarity | n | inverted | read right | ms per slice |');
console.log('|---|---|---|---:|---:|---:|---:|');
for (const [k, r] of rows) console.log(`| ${k} | ${r.n} | ${r.inverted} | ${r.right} | ${(r.ms / r.n).toFixed(2)} |`);
console.log(`\npictures as sent (real or degraded, not negatives) inverted: ${wrongly.length}${wrongly.length ? `\n${wrongly.join('\n')}` : ''}`);
