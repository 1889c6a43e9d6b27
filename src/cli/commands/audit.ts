import { readFile } from 'node:fs/promises';
import type { Command } from '../command.js';
import { parseCommandArgs, resolveDataDir, resolveModelDir } from '../command.js';
import { SPLITS, labelToBinary, type Split } from '../../types.js';
import { loadDataset, entriesOf } from '../../data/dataset.js';
import { decodeGrey } from '../../data/decode.js';
import { loadEngine } from '../../model/load-engine.js';
import { AUDIT_VARIANTS } from '../../eval/audit.js';
import { binaryMetrics } from '../../eval/metrics.js';
import { pairedAucDifferenceInterval } from '../../eval/bootstrap.js';
import { Progress } from '../../util/progress.js';
import { UserError, errorMessage } from '../../util/errors.js';

export const auditCommand: Command = {
  words: ['audit'],
  summary: 'shortcut audit: AUC when the test images are re-encoded (format, grey, compression, scale)',
  help: `
Usage: covid-ct audit [--data DIR] [--model DIR] [--split test|val] [--json] [--max-delta D]

Re-encodes every image of the split in several ways that keep the anatomy (PNG -> JPEG at quality 75,
JPEG -> PNG, all to grey, a downscale by 2 and back) and reports AUC and accuracy of each variant beside the
original. On COVID-CT the file's format and colour mode predict the label; a model that sees pixels only
should move little.

Options:
  --data DIR      COVID-CT data folder (default: $COVID_CT_DATA or ../shared/data/covid-ct)
  --model DIR     model folder (default: the shipped model)
  --split NAME    test (default) or val
  --json          print one JSON object
  --max-delta D   exit 1 when some variant's AUC differs from the original's by D or more
  --quiet         no progress output
`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      data: { type: 'string' }, model: { type: 'string' }, split: { type: 'string' }, json: { type: 'boolean' },
      'max-delta': { type: 'string' }, engine: { type: 'string' }, quiet: { type: 'boolean' },
    });
    const split = (values.split ?? 'test') as Split;
    if (!SPLITS.includes(split)) throw new UserError(`--split must be one of ${SPLITS.join(', ')}`);
    const maxDelta = values['max-delta'] === undefined ? undefined : Number(values['max-delta']);
    if (maxDelta !== undefined && !(maxDelta > 0)) throw new UserError('--max-delta must be a positive number');
    const entries = entriesOf(await loadDataset(resolveDataDir(values.data)), split);
    const engine = await loadEngine(resolveModelDir(values.model), values.engine);
    const yTrue = entries.map((e) => labelToBinary(e.label));
    const originals = await Promise.all(entries.map(async (e) => new Uint8Array(await readFile(e.path))));
    const progress = new Progress(entries.length * AUDIT_VARIANTS.length, 'audit', { enabled: !values.quiet });
    const rows = [];
    for (const v of AUDIT_VARIANTS) {
      const scores: number[] = [];
      let changed = 0;
      for (let i = 0; i < entries.length; i += 8) {
        const batch = await Promise.all(originals.slice(i, i + 8).map(async (b, k) => {
          try {
            const out = await v.apply(b);
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
      rows.push({ variant: v.name, description: v.description, changedFiles: changed, auc: m.auc, accuracy: m.accuracy, scores });
    }
    progress.done();
    engine.dispose();
    const base = rows[0];
    const result = {
      split, n: entries.length, threshold: engine.threshold,
      variants: rows.map(({ scores, ...r }) => ({
        ...r, deltaAuc: r.auc - base.auc,
        // Paired bootstrap over images (2000 draws, seed 0): how much of the change resampling alone explains.
        deltaAucCi: pairedAucDifferenceInterval(yTrue, base.scores, scores).ci,
        deltaAccuracy: r.accuracy - base.accuracy,
      })),
    };
    const worst = Math.max(...result.variants.map((r) => Math.abs(r.deltaAuc)));
    if (values.json) {
      console.log(JSON.stringify({ ...result, maxAbsDeltaAuc: worst }));
    } else {
      console.log(`shortcut audit: ${split} split, ${entries.length} images, threshold ${engine.threshold.toFixed(4)}\n`);
      console.log(`${'variant'.padEnd(18)} ${'files changed'.padStart(13)}  ${'AUC'.padStart(6)}  ${'dAUC'.padStart(7)}  ${'dAUC 95% CI (paired)'.padStart(20)}  ${'accuracy'.padStart(8)}  ${'dAcc'.padStart(7)}`);
      const sign = (x: number) => (x >= 0 ? '+' : '') + x.toFixed(4);
      for (const r of result.variants) {
        const ci = r.deltaAucCi ? `[${sign(r.deltaAucCi[0])}, ${sign(r.deltaAucCi[1])}]` : 'n/a';
        console.log(`${r.variant.padEnd(18)} ${String(r.changedFiles).padStart(13)}  ${r.auc.toFixed(4)}  ${sign(r.deltaAuc).padStart(7)}  ${ci.padStart(20)}  ${r.accuracy.toFixed(4).padStart(8)}  ${sign(r.deltaAccuracy).padStart(7)}`);
      }
      console.log(`\nlargest AUC change: ${worst.toFixed(4)}`);
    }
    return maxDelta !== undefined && worst >= maxDelta ? 1 : 0;
  },
};
