import { InvalidArgumentError, type Command } from 'commander';
import { EnvFileSecretResolver } from '../config/secret-ref';
import { CLIENT_ID_PATTERN } from '../domain/lead';
import { Keys } from '../queue/keys';
import { connectRedis } from '../queue/redis-connection';
import { probeClient, type ProbeReport, type ProbeStep } from '../support/probe';
import { loadClientById, terminalLogger, type CliDeps } from './open-client';

/**
 * `lead-export probe <client>`: measures the client's CRM with read-only requests and recommends a
 * `rateLimit` for its file. See src/support/probe.ts for what is measured and how carefully.
 *
 * Exit codes (as the rest of the CLI): 0 done, 1 the probe could not run (no ping, credentials
 * refused), 2 bad arguments (including a client id with no file), 3 the CRM or Redis unreachable.
 */

export type ProbeCommandDeps = CliDeps;

function clientIdArg(v: string): string {
  if (!CLIENT_ID_PATTERN.test(v)) throw new InvalidArgumentError(`'${v}' is not a client id (a-z 0-9 -, as in the client file name)`);
  return v;
}

function samplesArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 3 || n > 500) throw new InvalidArgumentError(`'${v}' is not a number of samples from 3 to 500`);
  return n;
}

function rateArg(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 1000) throw new InvalidArgumentError(`'${v}' is not a rate in requests per second (0 < rate ≤ 1000)`);
  return n;
}

export function registerProbeCommand(program: Command, deps: ProbeCommandDeps): void {
  const { print } = deps;
  program
    .command('probe')
    .description("measure a client's CRM with read-only requests: latency, rate-limit headers and (if the client allows probe.ramp) its real rate limit")
    .argument('<client>', 'client id (its file in CLIENTS_DIR)', clientIdArg)
    .option('--samples <n>', 'requests in the latency phase', samplesArg, 20)
    .option('--no-ramp', 'latency phase only, even if the client file allows the ramp')
    .option('--max-rate <n>', 'never exceed this many requests per second (can only lower probe.maxRate)', rateArg)
    .option('--json', 'print the report as JSON')
    .option('--verbose', 'print HTTP warnings to stderr')
    .action(async (id: string, o: { samples: number; ramp: boolean; maxRate?: number; json?: boolean; verbose?: boolean }) => {
      const cfg = deps.serviceConfig();
      const config = await loadClientById(cfg.clientsDir, id);
      const redis = connectRedis(cfg.redisUrl, { maxRetriesPerRequest: 2, connectTimeout: 3_000 });
      redis.on('error', () => undefined);
      const ac = new AbortController();
      const onSigint = () => ac.abort(new Error('interrupted'));
      process.once('SIGINT', onSigint);
      try {
        const report = await probeClient(
          config,
          {
            redis,
            keys: new Keys(cfg.queuePrefix),
            secrets: new EnvFileSecretResolver(deps.env ?? process.env),
            tokenEncryptionKey: cfg.tokenEncryptionKey,
            log: terminalLogger(deps.err, Boolean(o.verbose)),
          },
          {
            samples: o.samples,
            ramp: o.ramp,
            maxRate: o.maxRate,
            signal: ac.signal,
            onStep: o.json ? undefined : (s) => deps.err(`  … ${s.phase} at ${s.rate}/s: ${s.verdict}\n`),
          },
        );
        if (o.json) print(JSON.stringify(report, null, 2));
        else for (const l of formatReport(report)) print(l);
      } finally {
        process.off('SIGINT', onSigint);
        redis.disconnect();
      }
    });
}

const ms = (n: number | undefined) => (n === undefined ? '-' : `${n}`);

/** The human-readable report: the baseline, a table of steps, and the recommendation. */
export function formatReport(r: ProbeReport): string[] {
  const out: string[] = [];
  const b = r.baseline;
  out.push(`probe ${r.clientId} (${r.adapter}): configured rateLimit ${r.configured.requests} per ${r.configured.perSeconds} s; cap ${r.cap.rate}/s (${r.cap.source})`);
  out.push(`latency (${b.sent} requests at ${b.rate}/s): p50 ${ms(b.p50)} ms, p90 ${ms(b.p90)} ms, p99 ${ms(b.p99)} ms; ${b.rateLimited} × 429, ${b.errors} error(s)`);
  const headers = Object.entries(r.rateLimitHeaders);
  out.push(`rate-limit headers: ${headers.length ? headers.map(([k, v]) => `${k}: ${v}`).join(', ') : 'none'}`);
  if (r.announced) out.push(`announced limit: ${r.announced.requests} per ${r.announced.perSeconds} s`);
  if (!r.ramp.ran) out.push(`ramp: not run — ${r.ramp.skipped ?? 'not allowed'}`);
  out.push('');
  const rows: string[][] = [['step', 'phase', 'rate/s', 'sent', 'ok', '429', 'errors', 'p50 ms', 'p90 ms', 'p99 ms', 'verdict']];
  r.steps.forEach((s: ProbeStep, i) =>
    rows.push([String(i + 1), s.phase, String(s.rate), String(s.sent), String(s.ok), String(s.rateLimited), String(s.errors), ms(s.p50), ms(s.p90), ms(s.p99), s.verdict]),
  );
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const row of rows) out.push(row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
  for (const s of r.steps) if (s.firstError) out.push(`  ${s.phase} at ${s.rate}/s: ${s.firstError}`);
  out.push('');
  if (r.ramp.ran) {
    out.push(
      r.ramp.firstBadRate !== undefined
        ? `measured: fine at ${r.ramp.lastGoodRate}/s, ${r.ramp.stoppedBy} at ${r.ramp.firstBadRate}/s`
        : `measured: fine up to the cap (${r.ramp.lastGoodRate}/s); the real limit is higher or absent`,
    );
  }
  for (const n of r.notes) out.push(`note: ${n}`);
  out.push(`recommended rateLimit: { requests: ${r.recommended.requests}, perSeconds: ${r.recommended.perSeconds} }  (${r.recommended.basis})`);
  return out;
}
