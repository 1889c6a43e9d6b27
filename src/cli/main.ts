#!/usr/bin/env node
/** covid-ct command line: dispatches to one sub-command; user errors print one line, never a stack trace. */
import type { Command } from './command.js';
import { UserError } from '../util/errors.js';
import { datasetCheckCommand } from './commands/dataset-check.js';
import { trainCommand } from './commands/train.js';
import { evaluateCommand } from './commands/evaluate.js';
import { predictCommand } from './commands/predict.js';
import { explainCommand } from './commands/explain.js';
import { exportCommand } from './commands/export.js';
import { auditCommand } from './commands/audit.js';
import { serveCommand } from './commands/serve.js';
import { pacsCommand } from './commands/pacs.js';

const COMMANDS: Command[] = [datasetCheckCommand, trainCommand, evaluateCommand, predictCommand, explainCommand, exportCommand, auditCommand, serveCommand, pacsCommand];

function usage(): string {
  const rows = COMMANDS.map((c) => `  ${c.words.join(' ').padEnd(16)} ${c.summary}`);
  return ['Usage: covid-ct <command> [options]   (covid-ct <command> --help for details)', '', 'Commands:', ...rows].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const cmd = COMMANDS.find((c) => c.words.every((w, i) => argv[i] === w));
  if (!cmd) {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      console.log(usage());
      return 0;
    }
    console.error(`covid-ct: unknown command "${argv.join(' ')}"\n\n${usage()}`);
    return 1;
  }
  const rest = argv.slice(cmd.words.length);
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(cmd.help.trim());
    return 0;
  }
  return cmd.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (e instanceof UserError) {
      console.error(`covid-ct: ${e.message}`);
      process.exitCode = e.exitCode;
    } else {
      console.error(e);
      process.exitCode = 70;
    }
  },
);
