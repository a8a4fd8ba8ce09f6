import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { formatClientFileError, loadClientsPath } from '../config/client-loader';
import { loadServiceConfig, type ServiceConfig } from '../config/service-config';
import { LeadExportError } from '../domain/errors';
import { CLIENT_ID_PATTERN, leadJsonSchema } from '../domain/lead';
import { openApiDocument } from '../api/openapi';
import { LeadProducer } from '../queue/producer';
import { startService } from '../service';
import { listFailed, replayFailed } from '../support/failed-jobs';
import { checkOnline, registerAdapterCommands } from './adapter-commands';
import { exitCodeOf } from './open-client';
import { ClientControl } from './client-control';
import { registerProbeCommand } from './probe-command';
import { enqueueFile } from './enqueue-file';

/**
 * `lead-export` — the command line for ops and support. Exit codes: 0 ok, 1 a problem found (a check
 * failed, the CRM refused), 2 bad usage, 3 the CRM (or Redis) could not be reached.
 */

type Out = { out: (s: string) => void; err: (s: string) => void };

function clientIdArg(v: string): string {
  if (!CLIENT_ID_PATTERN.test(v)) throw new InvalidArgumentError(`'${v}' is not a client id (a-z 0-9 -, as in the client file name)`);
  return v;
}

function isoArg(v: string): number {
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidArgumentError(`'${v}' is not a date-time (use ISO-8601, e.g. 2026-11-27T10:00:00Z)`);
  return t;
}

function posIntArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`'${v}' is not a positive whole number`);
  return n;
}

export function buildCli(io: Out = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }, env: NodeJS.ProcessEnv = process.env): Command {
  let cached: ServiceConfig | null = null;
  const serviceConfig = () => (cached ??= loadServiceConfig(env));
  const print = (s = '') => io.out(`${s}\n`);

  const program = new Command('lead-export')
    .description('Delivers HRDrom leads into client CRMs and brings funnel progress back')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('serve')
    .description('run the service: intake API and/or delivery workers (config from the environment)')
    .addOption(new Option('--role <role>', 'what this process runs').choices(['all', 'api', 'worker']).default('all'))
    .action(async (o: { role: 'all' | 'api' | 'worker' }) => {
      const cfg = serviceConfig();
      const svc = await startService(cfg, { api: o.role !== 'worker', worker: o.role !== 'api' }, { defaultMetrics: true });
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          svc.log.info({ signal: sig, deadlineMs: cfg.shutdownTimeoutMs }, 'shutting down');
          // close() gives up waiting at SHUTDOWN_TIMEOUT_MS; should anything still hold the process
          // (a socket still reconnecting to a Redis that is gone), it ends shortly after.
          setTimeout(() => process.exit(), cfg.shutdownTimeoutMs + 2_000).unref();
          void svc.close().then(() => {
            // Closed: a socket BullMQ still has reconnecting to a Redis that is gone must not hold the exit.
            setTimeout(() => process.exit(), 100).unref();
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });

  const clients = program.command('clients').description('client config files and client state');
  clients
    .command('check')
    .description('validate every client file (or one file); exit 1 if any error')
    .argument('[path]', 'folder of client files, or one file (with --online: a client id)', undefined)
    .option('--online', "also check the client's config against the live CRM (read-only requests, through the client's rate limit)")
    .action(async (path: string | undefined, o: { online?: boolean }) => {
      if (o.online) {
        if (!path || !CLIENT_ID_PATTERN.test(path)) throw new LeadExportError('usage', 'clients check --online takes a client id, e.g. lead-export clients check --online acme');
        process.exitCode = await checkOnline(path, { serviceConfig, print, err: io.err, env });
        return;
      }
      const target = path ?? env.CLIENTS_DIR ?? 'config/clients';
      const { results, errors: dirErrors } = await loadClientsPath(target);
      let bad = dirErrors.length;
      for (const e of dirErrors) io.err(`${formatClientFileError(e)}\n`);
      for (const r of results) {
        if (r.ok) print(`${r.file}: ok (${r.config.adapter}, ${r.config.enabled ? (r.config.paused ? 'paused' : 'enabled') : 'disabled'})`);
        else {
          bad += r.errors.length;
          for (const e of r.errors) io.err(`${formatClientFileError(e)}\n`);
        }
      }
      if (results.length === 0 && dirErrors.length === 0) io.err(`${target}: no client files (*.yaml) found\n`);
      print(`${results.length} file(s) checked, ${bad} error(s)`);
      if (bad > 0 || results.length === 0) process.exitCode = 1;
    });

  /** Support commands act on a client a service knows (or whose jobs remain), so a typo is an error. */
  const withControl = async (clientId: string, fn: (c: ClientControl) => Promise<void>) => {
    const cfg = serviceConfig();
    const c = ClientControl.open(cfg.redisUrl, cfg.queuePrefix, clientId, cfg.clientsDir);
    try {
      await c.assertReachable();
      await c.assertKnown();
      await fn(c);
    } finally {
      await c.close();
    }
  };

  clients
    .command('status')
    .description("show a client's queue counts, pause state and circuit")
    .argument('<client>', 'client id', clientIdArg)
    .action((id: string) => withControl(id, async (c) => print(JSON.stringify(await c.status(), null, 2))));
  clients
    .command('pause')
    .description('pause a client (every process stops sending to it; leads keep queueing)')
    .argument('<client>', 'client id', clientIdArg)
    .action((id: string) =>
      withControl(id, async (c) => {
        await c.pause('cli');
        print(`${id}: paused`);
      }),
    );
  clients
    .command('resume')
    .description('resume a paused client (also clears an auth/contract pause after a fix)')
    .argument('<client>', 'client id', clientIdArg)
    .action((id: string) =>
      withControl(id, async (c) => {
        await c.resume();
        print(`${id}: resumed`);
      }),
    );

  program
    .command('enqueue')
    .description('enqueue leads from a JSON Lines file (one LeadV1 per line)')
    .argument('<file>', 'path to a .jsonl file')
    .option('--no-progress', 'no progress bar')
    .action(async (file: string, o: { progress: boolean }) => {
      const cfg = serviceConfig();
      const producer = new LeadProducer({ connection: cfg.redisUrl, prefix: cfg.queuePrefix, idempotencyTtlDays: cfg.idempotencyTtlDays });
      try {
        const s = await enqueueFile(producer, file, { progress: o.progress && Boolean(process.stderr.isTTY) });
        print(`lines: ${s.lines}  accepted: ${s.accepted}  duplicate: ${s.duplicate}  invalid: ${s.invalid}  unknown client: ${s.unknownClient}`);
        for (const p of s.problems.slice(0, 50)) io.err(`${p}\n`);
        if (s.problems.length > 50) io.err(`… and ${s.problems.length - 50} more problem(s)\n`);
        if (s.invalid + s.unknownClient > 0) process.exitCode = 1;
      } finally {
        await producer.close();
      }
    });

  program
    .command('failed')
    .description("list a client's failed deliveries with the CRM's reasons")
    .argument('<client>', 'client id', clientIdArg)
    .option('--limit <n>', 'how many', posIntArg, 20)
    .option('--json', 'print JSON')
    .action((id: string, o: { limit: number; json?: boolean }) =>
      withControl(id, async (c) => {
        const failed = await listFailed(c.queue, { limit: o.limit });
        if (o.json) return print(JSON.stringify(failed, null, 2));
        if (failed.length === 0) return print(`${id}: no failed deliveries`);
        for (const f of failed) print(`${f.failedAt ?? '-'}  ${f.leadId}  attempts=${f.attempts}  ${f.reason}`);
      }),
    );

  program
    .command('replay')
    .description('send failed deliveries again (fresh retry budget; delivered leads are skipped, uncertain ones looked up first)')
    .argument('<client>', 'client id', clientIdArg)
    .option('--lead <id...>', 'only these lead ids')
    .option('--reason <text>', 'only failures whose reason contains this text')
    .option('--since <iso>', 'only failures at or after this time', isoArg)
    .option('--all', 'every failed delivery of the client')
    .action((id: string, o: { lead?: string[]; reason?: string; since?: number; all?: boolean }) =>
      withControl(id, async (c) => {
        if (!o.all && !o.lead && !o.reason && !o.since) {
          throw new LeadExportError('usage', 'say what to replay: --lead <id...>, --reason <text>, --since <iso> or --all');
        }
        const r = await replayFailed(c.queue, { leadIds: o.lead, reasonContains: o.reason, since: o.since });
        print(`${id}: replayed ${r.replayed} of ${r.scanned} failed (${r.skipped} did not match)`);
      }),
    );

  program
    .command('schema')
    .description('print the JSON Schema of LeadV1, or the OpenAPI document of the intake API (for HRDrom core)')
    .option('--openapi', 'print the OpenAPI 3.1 document instead')
    .action((o: { openapi?: boolean }) => print(JSON.stringify(o.openapi ? openApiDocument() : leadJsonSchema(), null, 2)));

  registerAdapterCommands(program, { serviceConfig, print, err: io.err, env });
  registerProbeCommand(program, { serviceConfig, print, err: io.err, env });
  return program;
}

/** Runs the CLI and turns every error into a message and an exit code — never a stack trace. */
export async function runCli(argv: string[], io?: Out, env?: NodeJS.ProcessEnv): Promise<number> {
  const program = buildCli(io, env);
  const err = io?.err ?? ((s: string) => process.stderr.write(s));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof LeadExportError) {
      err(`lead-export: ${e.message}\n`);
      return exitCodeOf(e);
    }
    err(`lead-export: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
