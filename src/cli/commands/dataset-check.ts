/** `covid-ct dataset check`: verifies the data folder against its split files and metadata. */
import { LABELS, SPLITS } from '../../types.js';
import { checkDataset, type DatasetCheckReport, type FileSummary } from '../../data/check.js';
import { CLASS_DIRS } from '../../data/dataset.js';
import { intOption, parseCommandArgs, resolveDataDir, type Command } from '../command.js';

const HELP = `
Usage: covid-ct dataset check [--data DIR] [--json] [--concurrency N]

Checks the COVID-CT data folder before anything is trained or scored on it:
  - every name in the six split files (splits/{train,val,test}CT_{COVID,NonCOVID}.txt) has its file,
  - every file in images/CT_COVID and images/CT_NonCOVID is listed in a split file of its class,
  - no name is listed twice,
  - every file decodes completely as a PNG or JPEG (judged by its bytes, never its extension),
  - no patient has images in two splits (patient ids from COVID-CT-MetaInfo.xlsx and
    NonCOVID-CT-MetaInfo.csv), and every listed image has a patient id.
It also reports, for information only, the files whose extension lies about their format (the real
data has 34 JPEGs named .png) and a summary of formats, colour modes, bit depths, progressive JPEGs
and sizes per class. Those file properties predict the label on this data; the model never sees them.

Options:
  --data DIR         the data folder (default: $COVID_CT_DATA, else ../shared/data/covid-ct)
  --json             print the report as one JSON object on stdout instead of text
  --concurrency N    files decoded at once (default 4)
  -h, --help         show this help

Progress is shown on stderr while the images are decoded.

Exit status: 0 when no problem was found (quirks such as lying extensions are not problems),
1 when a problem was found or the folder does not have the COVID-CT layout.
`;

export const datasetCheckCommand: Command = {
  words: ['dataset', 'check'],
  summary: 'check the data folder: split files, missing/extra/corrupt images, patients in two splits',
  help: HELP,
  async run(argv: string[]): Promise<number> {
    const { values } = parseCommandArgs(argv, {
      data: { type: 'string' },
      json: { type: 'boolean' },
      concurrency: { type: 'string' },
    });
    const dataDir = resolveDataDir(values.data);
    const concurrency = intOption(values.concurrency, 'concurrency', 4, 1);
    const report = await checkDataset(dataDir, { concurrency, progress: true });
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else console.log(formatReport(report));
    return report.ok ? 0 : 1;
  },
};

/** The report as text for a person: counts, problems, then the quirks worth knowing. */
export function formatReport(r: DatasetCheckReport): string {
  const out: string[] = [`Dataset ${r.dataDir}`, ''];
  out.push('Listed images       COVID  NonCOVID');
  for (const s of SPLITS) out.push(`  ${s.padEnd(16)} ${String(r.counts[s].COVID).padStart(6)} ${String(r.counts[s].NonCOVID).padStart(9)}`);
  out.push(
    `  ${'total'.padEnd(16)} ${String(SPLITS.reduce((a, s) => a + r.counts[s].COVID, 0)).padStart(6)} ${String(SPLITS.reduce((a, s) => a + r.counts[s].NonCOVID, 0)).padStart(9)}`,
  );
  out.push(
    '',
    `Files on disk: ${r.totals.filesOnDisk}, decoded: ${r.totals.decoded}, patients in the split files: ${r.totals.patients}`,
  );
  if (r.ignored.length) out.push(`Ignored (hidden files, folders): ${r.ignored.join(', ')}`);

  out.push('', `Quirks (not problems):`);
  out.push(`  ${r.lyingExtensions.count} files whose extension lies about their format`);
  const shown = r.lyingExtensions.files.slice(0, 5);
  for (const f of shown) out.push(`    images/${CLASS_DIRS[f.label]}/${f.name} is ${f.format.toUpperCase()} (${f.splits.join(', ') || 'unlisted'})`);
  if (r.lyingExtensions.count > shown.length) out.push(`    ... and ${r.lyingExtensions.count - shown.length} more (--json lists all)`);
  for (const label of LABELS) out.push(`  ${label}: ${summaryLine(r.summary.byClass[label])}`);

  out.push('');
  if (r.ok) {
    out.push('OK: no problem found.');
  } else {
    out.push(`${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}:`);
    for (const p of r.problems) out.push(`  - ${p}`);
  }
  return out.join('\n');
}

function summaryLine(s: FileSummary): string {
  const modes = Object.entries(s.colourModes).map(([m, n]) => `${m} ${n}`).join(', ');
  const depths = Object.entries(s.bitDepths).map(([d, n]) => `${d}-bit ${n}`).join(', ');
  const size = s.width && s.height ? `; widths ${s.width.min}-${s.width.max}, heights ${s.height.min}-${s.height.max}` : '';
  const interlaced = s.interlacedPng ? `, ${s.interlacedPng} interlaced PNG` : '';
  return `${s.files} files: PNG ${s.formats.png}, JPEG ${s.formats.jpeg} (${s.progressiveJpeg} progressive)${interlaced}; ${modes}; ${depths}${size}`;
}
