/** The shape of one `covid-ct` sub-command, and the small argument helpers they share. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../util/errors.js';
import { nearest } from './suggest.js';

export interface Command {
  /** Words that select it, e.g. ['dataset', 'check']. */
  words: string[];
  summary: string;
  /** Full help text printed by --help. */
  help: string;
  /** Runs with the arguments after the command words; resolves to the process exit code. */
  run(argv: string[]): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * parseArgs with covid-ct's rules: --help is always accepted, and a bad option is a UserError in plain words
 * ("unknown option --fromat; did you mean --format?") instead of Node's text about positional arguments.
 */
export function parseCommandArgs<O extends Options>(argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (e) {
    throw new UserError(`${parseErrorText(e as Error & { code?: string }, options)} (see --help)`);
  }
}

/** Node's parseArgs error, said plainly, with the nearest known option for an unknown one. */
export function parseErrorText(e: Error & { code?: string }, options: Options): string {
  const token = /'([^']*)'/.exec(e.message)?.[1] ?? '';
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = token.split('=')[0];
    const guess = flag.startsWith('--') ? nearest(flag.slice(2), Object.keys(options)) : undefined;
    return `unknown option ${flag}${guess ? `; did you mean --${guess}?` : ''}`;
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = token.split(' ')[0];
    if (/argument missing/.test(e.message)) return `${flag} needs a value (${flag} VALUE)`;
    if (/does not take an argument/.test(e.message)) return `${flag} takes no value`;
  }
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument "${token}": this command takes options only`;
  return e.message.replace(/^.*?: /, '');
}

/** Parses an integer option, naming it in the error. */
export function intOption(value: string | undefined, name: string, fallback: number, min = -Infinity): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UserError(`--${name} must be an integer${min > -Infinity ? ` >= ${min}` : ''}, got "${value}"`);
  return n;
}

/** The package's root folder (where package.json and models/ are), found from this file's location. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** The data folder: --data, else $COVID_CT_DATA, else ../shared/data/covid-ct beside the package or the cwd. */
export function resolveDataDir(option: string | undefined): string {
  if (option) return path.resolve(option);
  if (process.env.COVID_CT_DATA) return path.resolve(process.env.COVID_CT_DATA);
  const candidates = [path.resolve('../shared/data/covid-ct'), path.resolve(packageRoot(), '../shared/data/covid-ct')];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new UserError('no data folder: pass --data DIR or set COVID_CT_DATA (looked for ../shared/data/covid-ct)');
  return found;
}

/** The model folder: --model, else the shipped model in the package's models/default. */
export function resolveModelDir(option: string | undefined): string {
  return option ? path.resolve(option) : path.join(packageRoot(), 'models', 'default');
}
