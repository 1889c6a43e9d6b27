/**
 * How much a recipe's numbers depend on the training seed (docs/seed-spread.md). Trains the recipe once per seed
 * (`covid-ct train`, one process per model), scores every model on val and on the CT-MD check (`covid-ct evaluate
 * --json`, the figures a user gets), then does the same for the seeds' ensemble: one head whose logit is the mean
 * of theirs (averageHeads, src/model/head.ts), its threshold chosen on val as training chooses it. Compare
 * candidates on the seeds' mean or on the ensemble: one seed's CT-MD figure moves by about 0.02 (sd) with the seed.
 * Never reads the official test split.
 *
 *   npm run bench:seeds -- [--recipe default] [--seeds 0-9] [--out DIR] [--jobs 1] [--pretrained FILE] [--shared DIR]
 *
 * - --seeds: a range (0-9) or a list (0,3,5).
 * - --out: the models, sS per seed and `ensemble` (default .cache/seed-spread/RECIPE). A model already there is
 *   reused (and its scores, kept beside it), so a stopped run resumes where it was.
 * - --jobs: trainings at once (each uses one core).
 * - --pretrained: the ImageNet weights (default ../shared/weights/mobilenetv2-12-int8.onnx, under --shared).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs } from './args.js';
import { averageHeads, headProbability } from '../src/model/head.js';
import { loadModel, saveModel, type ModelJson } from '../src/model/model-files.js';
import { exportOnnx } from '../src/model/onnx-export.js';
import { mobileNetV2Backbone } from '../src/model/backbone.js';
import { loadDataset, entriesOf } from '../src/data/dataset.js';
import { chooseThreshold, rocAuc } from '../src/eval/metrics.js';
import { evalPlanOf, recipeFeatures, type RecipeFeatureRun } from '../src/train/recipe-features.js';
import { frozenFeatureKey, modelThreshold } from '../src/train/train.js';
import { RECIPES, type Recipe } from '../src/train/recipe.js';
import { labelToBinary } from '../src/types.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/src/cli/main.js');

const { values } = benchArgs(import.meta.url, {
  options: {
    recipe: { type: 'string', default: 'default' }, seeds: { type: 'string', default: '0-9' }, out: { type: 'string' },
    jobs: { type: 'string', default: '1' }, pretrained: { type: 'string' }, shared: { type: 'string', default: '../shared' },
  },
});

/** "0-9" or "0,3,5" as a list of seeds. */
function parseSeeds(text: string): number[] {
  const range = /^(\d+)-(\d+)$/.exec(text);
  const seeds = range ? Array.from({ length: Math.max(0, Number(range[2]) - Number(range[1]) + 1) }, (_, k) => Number(range[1]) + k) : text.split(',').map(Number);
  if (seeds.length === 0 || seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new Error(`--seeds must be a range such as 0-9 or a list such as 0,3,5, got ${text}`);
  return seeds;
}

const recipeName = values.recipe;
const recipe: Recipe | undefined = RECIPES[recipeName];
if (!recipe || recipe.finetune) {
  process.stderr.write(`seed-spread: --recipe must be a frozen-feature recipe (${Object.keys(RECIPES).filter((k) => !RECIPES[k].finetune).join(', ')}), got ${recipeName}\n`);
  process.exit(2);
}
let seeds: number[];
try { seeds = parseSeeds(values.seeds); } catch (e) { process.stderr.write(`seed-spread: ${(e as Error).message}\n`); process.exit(2); }
const jobs = Math.max(1, Number(values.jobs) || 1);
const shared = path.resolve(values.shared);
const dataDir = path.join(shared, 'data/covid-ct');
const ctmd = path.join(shared, 'data/covid-ct-md-sample/manifest.csv');
const pretrained = path.resolve(values.pretrained ?? path.join(shared, 'weights/mobilenetv2-12-int8.onnx'));
const outDir = path.resolve(values.out ?? path.join('.cache/seed-spread', recipeName));
const cacheDir = path.resolve('.cache/covid-ct/features');
for (const [what, p] of [['data', dataDir], ['CT-MD manifest', ctmd], ['pretrained weights', pretrained]] as const) {
  if (!existsSync(p)) { process.stderr.write(`seed-spread: ${what} not found: ${p}\n`); process.exit(2); }
}

/** Runs the CLI; resolves its stdout, rejects with its stderr's last lines. */
function cli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`covid-ct ${args[0]} failed (${code}): ${err.trim().split('\n').slice(-3).join(' / ')}`))));
  });
}

interface Scores { ctmdAuc: number; ctmdCi: [number, number]; patientAuc: number; sensitivity: number; specificity: number; valAuc: number }

/** A model's val and CT-MD figures, kept in its folder (seed-spread-scores.json) so that a rerun does not score it again. */
async function scoresOf(dir: string): Promise<Scores> {
  const file = path.join(dir, 'seed-spread-scores.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as Scores;
  const c = JSON.parse(await cli(['evaluate', '--data', ctmd, '--model', dir, '--json', '--quiet']));
  const v = JSON.parse(await cli(['evaluate', '--data', dataDir, '--split', 'val', '--model', dir, '--json', '--quiet']));
  const s: Scores = {
    ctmdAuc: c.metrics.auc.value, ctmdCi: c.metrics.auc.ci, patientAuc: c.patients.auc.value,
    sensitivity: c.metrics.sensitivity.value, specificity: c.metrics.specificity.value, valAuc: v.metrics.auc.value,
  };
  await writeFile(file, JSON.stringify(s) + '\n');
  return s;
}

async function trainSeed(seed: number): Promise<string> {
  const dir = path.join(outDir, `s${seed}`);
  const jsonFile = path.join(dir, 'model.json');
  if (!existsSync(jsonFile)) {
    await cli(['train', '--recipe', recipeName, '--seed', String(seed), '--pretrained', pretrained, '--data', dataDir, '--cache', cacheDir, '--out', dir, '--quiet']);
  }
  // A folder reused from another run must hold this recipe's model for this seed.
  const card = (JSON.parse(await readFile(jsonFile, 'utf8')) as ModelJson).card as { seed?: number; recipe?: { name?: string } };
  if (card.seed !== seed || card.recipe?.name !== recipeName) {
    throw new Error(`${dir} holds recipe ${card.recipe?.name} seed ${card.seed}, not ${recipeName} seed ${seed}: choose another --out`);
  }
  return dir;
}

/** The seeds' ensemble as a model folder: the averaged head, the pattern threshold chosen on val by the recipe's rule. */
async function ensemble(dirs: string[]): Promise<{ dir: string; patternValAuc: number }> {
  const dir = path.join(outDir, 'ensemble');
  const models = await Promise.all(dirs.map((d) => loadModel(d)));
  const base = models[0];
  const head = averageHeads(models.map((m) => m.head));
  const r = base.json.card.recipe as Recipe;
  const normalisation = base.json.preprocessing.normalisation;
  const backbone = await mobileNetV2Backbone(base.layers, { taps: r.taps, inputSize: r.inputSize, normalisation });
  const val = entriesOf(await loadDataset(dataDir), 'val');
  const run: RecipeFeatureRun = { recipe: r, backbone, cacheDir, key: frozenFeatureKey(base.layers, normalisation, r.taps), quiet: true, log: () => undefined, skipped: [] };
  const feats = await recipeFeatures(run, val, evalPlanOf(r), 'val features');
  backbone.dispose();
  const idx = val.map((_, i) => i).filter((i) => feats[i] !== null);
  const y = idx.map((i) => labelToBinary(val[i].label));
  const scores = idx.map((i) => headProbability(head, feats[i]!, r.evalViews));
  const patternThreshold = chooseThreshold(y, scores, r.thresholdRule);
  const json = structuredClone(base.json) as ModelJson;
  if (json.reading) {
    json.reading.pattern.threshold = patternThreshold;
    // A not-CT distance (default-ood) is fitted on one head's standardisation; the ensemble goes without it.
    delete json.reading.ood;
  }
  json.threshold = modelThreshold(patternThreshold, json.reading !== undefined);
  json.card = { ...json.card, name: `covid-ct ${recipeName} (ensemble of seeds ${models.map((m) => m.json.card.seed).join(', ')})`, ensemble: models.map((m) => ({ seed: m.json.card.seed, chosen: m.json.card.chosen })) };
  const { layers: _layers, file: _file, sha256: _sha, ...backboneJson } = json.backbone;
  const saved = await saveModel(dir, { layers: base.layers, head, json: { ...json, backbone: backboneJson }, attribution: await readFile(path.join(dirs[0], 'ATTRIBUTION.md'), 'utf8') });
  await writeFile(path.join(dir, 'model.onnx'), Buffer.from(exportOnnx({ dir, json: saved, layers: base.layers, head })));
  return { dir, patternValAuc: rocAuc(y, scores) };
}

await mkdir(outDir, { recursive: true });
const started = Date.now();
const done: { seed: number; dir: string; scores: Scores }[] = [];
const queue = [...seeds];
const shown = (p: string) => (path.relative(process.cwd(), p).startsWith('..') ? p : path.relative(process.cwd(), p) || '.');
process.stderr.write(`seed-spread: recipe ${recipeName}, seeds ${seeds.join(', ')}, models in ${shown(outDir)}\n`);
const workers = Promise.all(Array.from({ length: Math.min(jobs, seeds.length) }, async () => {
  for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) {
    const dir = await trainSeed(seed);
    done.push({ seed, dir, scores: await scoresOf(dir) });
    // Wall time per finished seed, all jobs together.
    const perSeed = (Date.now() - started) / 1000 / done.length;
    const left = Math.ceil(((seeds.length - done.length) * perSeed) / 60);
    process.stderr.write(`  seed ${seed}: CT-MD ${done[done.length - 1].scores.ctmdAuc.toFixed(4)} (${done.length} of ${seeds.length}${done.length < seeds.length ? `, about ${left} min left` : ''})\n`);
  }
}));
await workers.catch((e: Error) => {
  process.stderr.write(`seed-spread: ${e.message}\n`);
  process.exit(1);
});
done.sort((a, b) => a.seed - b.seed);
const ens = await ensemble(done.map((d) => d.dir));
const ensScores = await scoresOf(ens.dir);

const f = (x: number) => x.toFixed(4);
const stats = (xs: number[]) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1)) : 0;
  return `${m.toFixed(3)} (${sd.toFixed(3)}), ${Math.min(...xs).toFixed(3)}-${Math.max(...xs).toFixed(3)}`;
};
const row = (name: string, s: Scores) => `| ${name} | ${f(s.ctmdAuc)} [${s.ctmdCi.map((c) => c.toFixed(3)).join(', ')}] | ${s.patientAuc.toFixed(2)} | ${s.sensitivity.toFixed(3)} / ${s.specificity.toFixed(3)} | ${f(s.valAuc)} |`;
console.log(`\nseed spread of recipe \`${recipeName}\` (CT-MD: ${shown(ctmd)}; val: the official val split)\n`);
console.log('| model | CT-MD slice AUC [95% CI] | CT-MD patient AUC | CT-MD sensitivity / specificity at its threshold | val AUC |');
console.log('|---|---|---:|---|---:|');
for (const d of done) console.log(row(`seed ${d.seed}`, d.scores));
const all = done.map((d) => d.scores);
console.log(`| **${done.length} seeds: mean (sd), range** | ${stats(all.map((s) => s.ctmdAuc))} | ${all.filter((s) => s.patientAuc === 1).length} of ${all.length} at 1.0 | ${stats(all.map((s) => s.sensitivity))} / ${stats(all.map((s) => s.specificity))} | ${stats(all.map((s) => s.valAuc))} |`);
console.log(row(`ensemble of the ${done.length} (one averaged head; pattern val AUC ${f(ens.patternValAuc)})`, ensScores));
console.log(`\n${Math.round((Date.now() - started) / 1000)} s`);
