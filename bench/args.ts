/**
 * Command-line options of a bench script: node's parseArgs, plus `--help` (the script's header comment, which
 * documents its options) and a short message instead of a stack trace when an option is unknown or lacks its value.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The first block comment of a source text, without its comment markers (what --help prints). */
export function headerComment(source: string): string {
  const m = /^(?:#![^\n]*\n)?\s*\/\*\*?([\s\S]*?)\*\//.exec(source);
  if (!m) return '';
  return m[1].split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n').trim();
}

/** The lines of a header comment that show how the script is run (they start with `node ` or `npm `). */
export function usageLines(header: string): string[] {
  return header.split('\n').map((l) => l.trim()).filter((l) => /^(node|npm) /.test(l));
}

/** What `benchArgs` does for an argument list: run, or print help / an error and exit with a code. */
export type ArgsOutcome<T> = { run: T } | { exit: 0 | 2; text: string };

/** The pure part of benchArgs: parse `args` by `config`, or say what to print and how to exit. */
export function readArgs<T extends ParseArgsConfig>(config: T, args: readonly string[], script: string, header: string): ArgsOutcome<ReturnType<typeof parseArgs<T>>> {
  if (args.includes('--help') || args.includes('-h')) return { exit: 0, text: header || `${script}: no description` };
  try {
    // The arguments do not change the result's type, which only the options and flags of `config` decide.
    return { run: parseArgs({ ...config, args: [...args] }) as ReturnType<typeof parseArgs<T>> };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS')) throw e;
    const usage = usageLines(header);
    const lines = [`${script}: ${(e as Error).message}`, ...(usage.length ? ['usage:', ...usage.map((l) => `  ${l}`)] : []), `${script} --help shows what the script does and its options.`];
    return { exit: 2, text: lines.join('\n') };
  }
}

/**
 * parseArgs for the bench script at `moduleUrl` (its `import.meta.url`) over process.argv. `--help` prints the
 * script's header comment and exits 0; a bad option prints the message and the usage lines and exits 2.
 */
export function benchArgs<T extends ParseArgsConfig>(moduleUrl: string, config: T): ReturnType<typeof parseArgs<T>> {
  const file = fileURLToPath(moduleUrl);
  let header = '';
  try { header = headerComment(readFileSync(file, 'utf8')); } catch { /* no header: --help says so */ }
  const script = `node ${path.relative(process.cwd(), file) || file}`;
  const outcome = readArgs(config, config.args ?? process.argv.slice(2), script, header);
  if ('run' in outcome) return outcome.run;
  (outcome.exit === 0 ? process.stdout : process.stderr).write(outcome.text + '\n');
  process.exit(outcome.exit);
}
