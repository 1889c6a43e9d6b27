/**
 * The orientation stage (src/data/orientation.ts, docs/orientation.md) on every real slice and its turned copies:
 * COVID-CT (all 746, by the official split files) and the CT-MD sample (768 PNGs), each as sent (upright), flipped
 * top to bottom, turned by 180 degrees, and turned by 90 degrees either way. Prints the confusion (true
 * orientation x the stage's decision) per set, and the upright slices turned (the bar: none).
 *
 *   node dist/bench/orientation-cues.js [--jsonl FILE] [--data DIR] [--data-md DIR]
 *
 * --jsonl FILE writes one line per (slice, turn): the arrangement found as sent (side by side, stacked, none), the
 * cues (spine, heart, body, table) and the decision.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { benchArgs } from './args.js';
import { decodeGrey } from '../src/data/decode.js';
import { decideOrientation, TURNS, type Orientation } from '../src/data/orientation.js';
import { realCtFiles } from './real-ct.js';

const { values } = benchArgs(import.meta.url, { options: { jsonl: { type: 'string' }, data: { type: 'string', default: '../shared/data/covid-ct' }, 'data-md': { type: 'string', default: '../shared/data/covid-ct-md-sample' } } });

const DECISIONS: Orientation[] = ['as-sent', 'flipped', 'transposed', 'transposed-flipped'];

const files = await realCtFiles(values.data!, values['data-md']!);
const counts = new Map<string, number>();
const lines: string[] = [];
const uprightTurned: string[] = [];
for (const f of files) {
  const g = await decodeGrey(new Uint8Array(await readFile(f.file)));
  for (const t of TURNS) {
    const img = t.turn(g);
    const d = decideOrientation(img, img.hu ? { hu: img.hu } : {});
    const key = `${f.set}|${t.name}|${d.orientation}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    if (t.name === 'upright' && d.orientation !== 'as-sent') uprightTurned.push(`${f.file}: ${d.orientation}`);
    if (values.jsonl) lines.push(JSON.stringify({ file: f.file, set: f.set, split: f.split, turn: t.name, arrangement: d.arrangement, cues: d.cues, decided: d.orientation }));
  }
}
if (values.jsonl) await writeFile(values.jsonl, lines.join('\n') + '\n');
for (const set of ['covid-ct', 'ct-md']) {
  console.log(`\n${set}: true orientation x decision\n`);
  console.log(`| true \\ decided | ${DECISIONS.join(' | ')} | put upright |`);
  console.log(`|---|${DECISIONS.map(() => '---:').join('|')}|---:|`);
  for (const t of TURNS) {
    const c = DECISIONS.map((d) => counts.get(`${set}|${t.name}|${d}`) ?? 0);
    const n = c.reduce((a, b) => a + b, 0);
    const right = counts.get(`${set}|${t.name}|${t.right}`) ?? 0;
    console.log(`| ${t.name} (${n}) | ${c.join(' | ')} | ${right} (${(100 * right / n).toFixed(1)}%) |`);
  }
}
console.log(`\nupright slices turned: ${uprightTurned.length}${uprightTurned.length ? `\n${uprightTurned.join('\n')}` : ''}`);
