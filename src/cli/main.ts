#!/usr/bin/env node
/** covid-ct command line: dispatches to one sub-command; user errors print one line, never a stack trace. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot, type Command } from './command.js';
import { nearest } from './suggest.js';
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
import { workerCommand } from './commands/worker.js';
import { batchCommand } from './commands/batch.js';

const COMMANDS: Command[] = [datasetCheckCommand, trainCommand, evaluateCommand, predictCommand, explainCommand, exportCommand, auditCommand, serveCommand, pacsCommand, batchCommand, workerCommand];

function usage(): string {
  const rows = COMMANDS.map((c) => `  ${c.words.join(' ').padEnd(16)} ${c.summary}`);
  return ['Usage: covid-ct <command> [options]   (covid-ct <command> --help for details)', '', 'Commands:', ...rows, '',
    'Options: --help (this text), --version (the version of covid-ct)'].join('\n');
}

/** The installed package's version, from its package.json. */
function version(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** Help of a command group such as `dataset`: its sub-commands. */
function groupUsage(group: string): string {
  const rows = COMMANDS.filter((c) => c.words.length > 1 && c.words[0] === group).map((c) => `  ${c.words.join(' ').padEnd(16)} ${c.summary}`);
  return [`Usage: covid-ct ${group} <command> [options]   (covid-ct ${group} <command> --help for details)`, '', 'Commands:', ...rows].join('\n');
}

/** "unknown command" with the nearest command as a suggestion, on one line, then the usage. */
function unknownCommand(argv: string[]): string {
  const group = COMMANDS.some((c) => c.words.length > 1 && c.words[0] === argv[0]) ? argv[0] : undefined;
  const typed = group ? argv[1] : argv[0];
  const candidates = group
    ? COMMANDS.filter((c) => c.words[0] === group).map((c) => c.words[1])
    : [...new Set(COMMANDS.map((c) => c.words[0])), 'help'];
  const guess = typed && !typed.startsWith('-') ? nearest(typed, candidates) : undefined;
  const shown = group ? `${group} ${typed ?? ''}`.trim() : typed;
  const hint = guess ? `; did you mean "covid-ct ${group ? `${group} ` : ''}${guess}"?` : '';
  return `covid-ct: unknown command "${shown}"${hint}\n\n${group ? groupUsage(group) : usage()}`;
}

export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-v' || argv[0] === 'version') {
    console.log(version());
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.words.every((w, i) => argv[i] === w));
  if (!cmd) {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      console.log(usage());
      return 0;
    }
    // A group word alone or with --help (`covid-ct dataset --help`) lists the group's commands.
    const isGroup = COMMANDS.some((c) => c.words.length > 1 && c.words[0] === argv[0]);
    if (isGroup && (argv.length === 1 || argv[1] === '--help' || argv[1] === '-h')) {
      if (argv.length === 1) { console.error(groupUsage(argv[0])); return 1; }
      console.log(groupUsage(argv[0]));
      return 0;
    }
    console.error(unknownCommand(argv));
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
