import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from '../command.js';
import { intOption, packageRoot, parseCommandArgs, resolveModelDir } from '../command.js';
import { loadEngine } from '../../model/load-engine.js';
import type { Engine } from '../../model/engine.js';
import { DicomWebClient, parseAuth } from '../../pacs/dicomweb.js';
import type { ExplainingEngine } from '../../pacs/heatmap-picture.js';
import { PacsScorer } from '../../pacs/run.js';
import { UserError, errorMessage } from '../../util/errors.js';

export const pacsCommand: Command = {
  words: ['pacs'],
  summary: 'score the CT series of a PACS over DICOMweb and store the results back as DICOM',
  help: `
Usage: covid-ct pacs --dicomweb URL [--once | --poll SECONDS] [--auth user:password | --auth bearer:TOKEN]
                     [--model DIR] [--heatmaps N] [--since YYYYMMDD] [--quiet]

Finds the CT series on a DICOMweb server (QIDO-RS) that this model has not scored yet, fetches them (WADO-RS),
scores every slice and the scan exactly as \`covid-ct predict\` does, and stores into the same study (STOW-RS):
  - a Comprehensive SR ("covid-ct report", series 9901): the scan's P(COVID), the threshold, the label, the model's
    name, version and weight hashes, the source series and its instances, the top slices' P; research use only;
  - secondary captures ("covid-ct heatmaps", series 9902): the heatmap of each highest-scoring slice.
No local database: the UIDs of what it writes are derived from the source series and the model, so a series whose
report is in the PACS is skipped, and its own output (Manufacturer "covid-ct", modality SR/OT) is never scored.
See docs/pacs.md.

Options:
  --dicomweb URL    the server's DICOMweb root, e.g. http://orthanc:8042/dicom-web
  --auth VALUE      user:password (HTTP Basic) or bearer:TOKEN; default $COVID_CT_DICOMWEB_AUTH (keeps the
                    secret out of the process list), else none
  --once            one pass, then exit (0: all scored, 2: some series could not be)
  --poll SECONDS    a pass every SECONDS (default 60) until SIGINT/SIGTERM; a series is scored once its instance
                    count has held still for one interval (it is not still arriving)
  --heatmaps N      at most N heatmaps per series: the highest-scoring of the slices the scan score averages
                    (default 10; 0 for none)
  --since DATE      only studies from DATE on (YYYYMMDD), for a large archive
  --model DIR       model folder (default: the shipped model, models/default)
  --quiet           no progress output
`,
  async run(argv) {
    const { values } = parseCommandArgs(argv, {
      dicomweb: { type: 'string' }, auth: { type: 'string' }, once: { type: 'boolean' }, poll: { type: 'string' },
      heatmaps: { type: 'string' }, since: { type: 'string' }, model: { type: 'string' }, quiet: { type: 'boolean' },
    });
    if (!values.dicomweb) throw new UserError('--dicomweb URL is required (see --help)');
    if (values.once && values.poll !== undefined) throw new UserError('give --once or --poll SECONDS, not both');
    const poll = intOption(values.poll, 'poll', 60, 1);
    const maxHeatmaps = intOption(values.heatmaps, 'heatmaps', 10, 0);
    if (values.since !== undefined && !/^\d{8}$/.test(values.since)) throw new UserError(`--since must be a date as YYYYMMDD, got "${values.since}"`);
    const authText = values.auth ?? process.env.COVID_CT_DICOMWEB_AUTH;
    const stop = new AbortController();
    const client = new DicomWebClient(values.dicomweb, { auth: authText ? parseAuth(authText) : undefined, signal: stop.signal });
    const log = values.quiet ? undefined : (line: string) => process.stderr.write(`${new Date().toISOString().slice(0, 19)}Z ${line}\n`);

    await client.probe().catch((e: unknown) => { throw new UserError(errorMessage(e), 2); });
    const engine = await loadEngine(resolveModelDir(values.model), 'onnx');
    if (!('explainPrepared' in engine)) throw new UserError('the pacs command needs the onnx engine (heatmaps)');
    const scorer = new PacsScorer({
      client, engine: engine as Engine & ExplainingEngine, softwareVersion: packageVersion(), maxHeatmaps, since: values.since,
      log, progress: !values.quiet, signal: stop.signal,
    });

    // First SIGINT/SIGTERM: finish cleanly (the series being scored is dropped, nothing half-written is left as
    // done); a second one exits at once.
    const onSignal = (sig: NodeJS.Signals) => {
      if (stop.signal.aborted) process.exit(130);
      log?.(`${sig}: stopping`);
      stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      log?.(`covid-ct pacs: ${client.base}, model ${scorer.key}${values.once ? ', one pass' : `, a pass every ${poll} s`}`);
      let failed = 0;
      for (;;) {
        try {
          const r = await scorer.pass(!values.once);
          failed = r.failed;
          const next = values.once ? '' : `; next pass in ${poll} s`;
          log?.(`pass done: ${r.found} CT series, ${r.scored} scored, ${r.alreadyScored} already scored, ${r.failed} failed${r.waiting ? `, ${r.waiting} still arriving` : ''}${next}`);
        } catch (e) {
          if (stop.signal.aborted) break;
          // The server may be down for a moment: in poll mode say so and try again; --once fails.
          if (values.once) throw new UserError(errorMessage(e), 2);
          log?.(`pass failed: ${errorMessage(e)}; next pass in ${poll} s`);
        }
        if (values.once || stop.signal.aborted) break;
        await sleep(poll * 1000, undefined, { signal: stop.signal }).catch(() => undefined);
        if (stop.signal.aborted) break;
      }
      if (stop.signal.aborted) log?.('stopped');
      return failed > 0 ? 2 : 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      engine.dispose();
    }
  },
};

function packageVersion(): string {
  return String((JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: string }).version ?? '0');
}
