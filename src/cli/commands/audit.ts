import { readFile } from 'node:fs/promises';
import type { Command } from '../command.js';
import { parseCommandArgs, resolveDataDir, resolveModelDir } from '../command.js';
import { SPLITS, labelToBinary, type Split } from '../../types.js';
import { loadDataset, entriesOf } from '../../data/dataset.js';
import { decodeGrey } from '../../data/decode.js';
import { loadEngine } from '../../model/load-engine.js';
import { ALL_AUDIT_VARIANTS } from '../../eval/audit.js';
import { binaryMetrics } from '../../eval/metrics.js';
import { pairedAucDifferenceInterval } from '../../eval/bootstrap.js';
import { Progress } from '../../util/progress.js';
import { UserError, errorMessage } from '../../util/errors.js';

/** Issue 10's bar for the variants outside the lungs: mean |dP(COVID)| per image. */
const PER_IMAGE_BAR = 0.01;

export const auditCommand: Command = {
  words: ['audit'],
  summary: 'shortcut audit: AUC and per-image P change when the images are re-encoded or changed outside the lungs',
  help: `
Usage: covid-ct audit [--data DIR] [--model DIR] [--split val|test|train] [--variants A,B,...] [--json] [--max-delta D]

Re-encodes every image of the split in several ways that keep the anatomy (PNG -> JPEG at quality 75,
JPEG -> PNG, all to grey, a downscale by 2 and back) and reports AUC and accuracy of each variant beside the
original. On COVID-CT the file's format and colour mode predict the label; a model that sees pixels only
should move little.

Variants outside the lungs (issue 10) keep the pixels inside the lung mask (dilated by 4 analysis pixels) and
change the rest: outside-noise (uniform noise, seeded by the file's bytes), outside-swap (the surroundings of
the next image of the split, resized), marks-on-noncovid (arrows, letters and a scale bar pasted on every
non-COVID slice, also over the lungs). They are judged on the mean absolute change of P(COVID) per changed
image (bar: < 0.01); marks-on-noncovid also reports the change of the non-COVID slices' mean P.

Options:
  --data DIR      COVID-CT data folder (default: $COVID_CT_DATA or ../shared/data/covid-ct)
  --model DIR     model folder (default: the shipped model)
  --split NAME    val (default), test or train (score test only to report, once)
  --variants LIST comma-separated subset of: ${ALL_AUDIT_VARIANTS.filter((v) => v.name !== 'original').map((v) => v.name).join(', ')}
                  (default: all; the original is always scored as the baseline)
  --json          print one JSON object
  --max-delta D   exit 1 when some variant differs from the original by D or more: the AUC for the re-encodings,
                  the mean absolute per-image change of P(COVID) for the variants outside the lungs
  --quiet         no progress output
`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      data: { type: 'string' }, model: { type: 'string' }, split: { type: 'string' }, json: { type: 'boolean' },
      'max-delta': { type: 'string' }, engine: { type: 'string' }, quiet: { type: 'boolean' }, variants: { type: 'string' },
    });
    let variants = ALL_AUDIT_VARIANTS;
    if (values.variants !== undefined) {
      const names = values.variants.split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = names.filter((n) => !ALL_AUDIT_VARIANTS.some((v) => v.name === n));
      if (unknown.length) throw new UserError(`unknown variant(s) ${unknown.join(', ')}; known: ${ALL_AUDIT_VARIANTS.map((v) => v.name).join(', ')}`);
      variants = ALL_AUDIT_VARIANTS.filter((v) => v.name === 'original' || names.includes(v.name));
    }
    const split = (values.split ?? 'val') as Split;
    if (!SPLITS.includes(split)) throw new UserError(`--split must be val, test or train, got "${values.split}"`);
    const maxDelta = values['max-delta'] === undefined ? undefined : Number(values['max-delta']);
    if (maxDelta !== undefined && !(maxDelta > 0)) throw new UserError('--max-delta must be a positive number');
    const entries = entriesOf(await loadDataset(resolveDataDir(values.data)), split);
    const engine = await loadEngine(resolveModelDir(values.model), values.engine);
    const yTrue = entries.map((e) => labelToBinary(e.label));
    const originals = await Promise.all(entries.map(async (e) => new Uint8Array(await readFile(e.path))));
    const progress = new Progress(entries.length * variants.length, 'audit', { enabled: !values.quiet });
    const rows = [];
    for (const v of variants) {
      const scores: number[] = [];
      const changedMask: boolean[] = [];
      let changed = 0;
      for (let i = 0; i < entries.length; i += 8) {
        const batch = await Promise.all(originals.slice(i, i + 8).map(async (b, k) => {
          try {
            const out = await v.apply(b, { index: i + k, all: originals, labels: yTrue });
            changedMask[i + k] = out !== b;
            if (out !== b) changed++;
            return await decodeGrey(out);
          } catch (e) {
            throw new UserError(`${entries[i + k].path}: ${v.name}: ${errorMessage(e)}`);
          }
        }));
        scores.push(...(await engine.probabilities(batch)));
        progress.tick(batch.length);
      }
      const m = binaryMetrics(yTrue, scores, engine.threshold);
      rows.push({ variant: v.name, description: v.description, perImage: Boolean(v.perImage), changedFiles: changed, auc: m.auc, accuracy: m.accuracy, scores, changedMask });
    }
    progress.done();
    engine.dispose();
    const base = rows[0];
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
    const nonCovid = yTrue.map((y, i) => (y === 0 ? i : -1)).filter((i) => i >= 0);
    const result = {
      split, n: entries.length, threshold: engine.threshold, bar: PER_IMAGE_BAR,
      variants: rows.map(({ scores, changedMask, ...r }) => {
        const changedIdx = changedMask.map((c, i) => (c ? i : -1)).filter((i) => i >= 0);
        // Mean |P(variant) - P(original)| over the files the variant changed (all of them for the re-encodings
        // that touch every file; the non-COVID ones for marks-on-noncovid).
        const meanAbsDeltaP = mean(changedIdx.map((i) => Math.abs(scores[i] - base.scores[i])));
        return {
          ...r, deltaAuc: r.auc - base.auc,
          // Paired bootstrap over images (2000 draws, seed 0): how much of the change resampling alone explains.
          deltaAucCi: pairedAucDifferenceInterval(yTrue, base.scores, scores).ci,
          deltaAccuracy: r.accuracy - base.accuracy,
          meanAbsDeltaP,
          belowBar: meanAbsDeltaP < PER_IMAGE_BAR,
          nonCovidMeanP: mean(nonCovid.map((i) => scores[i])),
          deltaNonCovidMeanP: mean(nonCovid.map((i) => scores[i] - base.scores[i])),
        };
      }),
    };
    const worst = Math.max(...result.variants.map((r) => Math.abs(r.deltaAuc)));
    const worstPerImage = Math.max(0, ...result.variants.filter((r) => r.perImage).map((r) => r.meanAbsDeltaP));
    // Which variants passed --max-delta, each with the measure it was judged on, so that exit code 1 says why.
    const exceeded = maxDelta === undefined ? [] : result.variants
      .map((r) => ({ variant: r.variant, measure: r.perImage ? 'mean per-image |dP(COVID)|' : '|dAUC|', value: r.perImage ? r.meanAbsDeltaP : Math.abs(r.deltaAuc) }))
      .filter((e) => e.value >= maxDelta);
    const failed = exceeded.length > 0;
    if (values.json) {
      console.log(JSON.stringify({ ...result, maxAbsDeltaAuc: worst, maxMeanAbsDeltaP: worstPerImage, ...(maxDelta !== undefined ? { maxDelta, exceeded } : {}) }));
    } else {
      console.log(`shortcut audit: ${split} split, ${entries.length} images, threshold ${engine.threshold.toFixed(4)}\n`);
      console.log(`${'variant'.padEnd(18)} ${'files changed'.padStart(13)}  ${'AUC'.padStart(6)}  ${'dAUC'.padStart(7)}  ${'dAUC 95% CI (paired)'.padStart(20)}  ${'accuracy'.padStart(8)}  ${'dAcc'.padStart(7)}  ${'mean|dP|'.padStart(8)}  ${'< 0.01'.padStart(6)}`);
      const sign = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(4);
      for (const r of result.variants) {
        const ci = r.deltaAucCi ? `[${sign(r.deltaAucCi[0])}, ${sign(r.deltaAucCi[1])}]` : 'n/a';
        const bar = r.variant === 'original' ? '' : r.belowBar ? 'yes' : 'NO';
        console.log(`${r.variant.padEnd(18)} ${String(r.changedFiles).padStart(13)}  ${r.auc.toFixed(4)}  ${sign(r.deltaAuc).padStart(7)}  ${ci.padStart(20)}  ${r.accuracy.toFixed(4).padStart(8)}  ${sign(r.deltaAccuracy).padStart(7)}  ${r.meanAbsDeltaP.toFixed(4).padStart(8)}  ${bar.padStart(6)}`);
      }
      const marks = result.variants.find((r) => r.variant === 'marks-on-noncovid');
      if (marks) console.log(`\nmarks-on-noncovid: non-COVID mean P ${base.scores.length ? mean(nonCovid.map((i) => base.scores[i])).toFixed(4) : 'n/a'} -> ${marks.nonCovidMeanP.toFixed(4)} (${sign(marks.deltaNonCovidMeanP)})`);
      console.log(`\nlargest AUC change: ${worst.toFixed(4)}; largest mean per-image |dP| outside the lungs: ${worstPerImage.toFixed(4)} (bar ${PER_IMAGE_BAR})`);
    }
    if (failed) {
      for (const e of exceeded) console.error(`covid-ct audit: ${e.variant} exceeds --max-delta ${maxDelta}: ${e.measure} = ${e.value.toFixed(4)}`);
    }
    return failed ? 1 : 0;
  },
};
