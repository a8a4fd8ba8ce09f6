/**
 * Runs the fake REST CRM on its own, to try a client config or curl it by hand:
 *
 *   npm run build && node dist/test/support/fake-rest-crm/cli.js --port 8090 --auth login --username demo --password demo
 *
 * It prints its URL and serves until Ctrl+C. Every other option (faults, feed shape, quirks) is for
 * tests, which start the fake in-process with startFakeRestCrm().
 */
import { parseArgs } from 'node:util';
import { startFakeRestCrm } from './index';
import type { FakeRestCrm, FakeRestCrmOptions } from './types';

export const USAGE = `Usage: fake-rest-crm [--port N] [--auth none|login] [--username U --password P] [--latency MS]

  --port      port on 127.0.0.1 (default 0: any free port)
  --auth      none (default) or login (POST /auth/login, /auth/refresh, /auth/logout)
  --username  login name, required with --auth login
  --password  login password, required with --auth login
  --latency   milliseconds added to every answer (default 0)`;

/** A mistake in the command line: the message names the flag, and the usage follows it. */
export class CliUsageError extends Error {
  readonly kind = 'usage';
}

function integer(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new CliUsageError(`${flag} must be an integer from ${min} to ${max}, got '${text}'`);
  return Number(text);
}

export function parseCliArgs(argv: string[]): FakeRestCrmOptions | 'help' {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        auth: { type: 'string' },
        username: { type: 'string' },
        password: { type: 'string' },
        latency: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new CliUsageError((err as Error).message);
  }
  if (values.help) return 'help';
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const auth = str('auth') ?? 'none';
  const username = str('username');
  const password = str('password');
  const opts: FakeRestCrmOptions = { port: integer('--port', str('port'), 0, 65_535), latencyMs: integer('--latency', str('latency'), 0, 600_000) };
  if (auth === 'login') {
    if (username === undefined || password === undefined) throw new CliUsageError('--auth login needs --username and --password');
    opts.auth = { mode: 'login', username, password };
  } else if (auth === 'none') {
    if (username !== undefined || password !== undefined) throw new CliUsageError('--username and --password only apply with --auth login');
  } else {
    throw new CliUsageError(`--auth must be 'none' or 'login', got '${auth}'`);
  }
  return opts;
}

/** Starts the fake as the command line says and reports where; undefined after --help. */
export async function runCli(argv: string[], out: (line: string) => void): Promise<FakeRestCrm | undefined> {
  const opts = parseCliArgs(argv);
  if (opts === 'help') {
    out(USAGE);
    return undefined;
  }
  const crm = await startFakeRestCrm(opts);
  // The password is never echoed: a terminal's scrollback is a log too.
  out(`fake REST CRM listening on ${crm.url} (auth: ${opts.auth?.mode ?? 'none'}, latency: ${opts.latencyMs ?? 0} ms); Ctrl+C stops it`);
  return crm;
}

if (require.main === module) {
  runCli(process.argv.slice(2), (line) => process.stdout.write(`${line}\n`)).then(
    (crm) => {
      if (!crm) return;
      const stop = (): void => void crm.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (err: Error) => {
      process.stderr.write(err instanceof CliUsageError ? `${err.message}\n\n${USAGE}\n` : `fake REST CRM failed to start: ${err.message}\n`);
      process.exit(2);
    },
  );
}
