import type { Command } from 'commander';
import type { AdapterCommandContext, OnlineCheckReport } from '../../adapters/types';
import { ADAPTERS } from '../../adapters/registry';
import { InputError } from '../domain/errors';
import { ClientControl } from './client-control';
import { exitCodeOf, waitingOut, withClient, type CliDeps, type OpenClient } from './open-client';

/**
 * The CLI's part of the adapter boundary: every command an adapter contributes (`lead-export amocrm
 * connect …`), and `<kind> check-online` / `clients check --online` for every kind that has an online
 * check. Each runs on the client's opened channel. Exit codes: 0 ok, 1 ids missing or the CRM refused
 * (a person must act), 2 bad usage, 3 the CRM could not be reached (after waiting out 429s and retrying).
 */
export function registerAdapterCommands(program: Command, deps: CliDeps): void {
  for (const def of ADAPTERS) {
    const cmds = def.commands ?? [];
    const group = program.command(def.kind).description(`${def.kind} clients: ${['check-online', ...cmds.map((c) => c.name)].join(', ')}`);
    group
      .command('check-online')
      .description("check the client file against the live CRM (read-only requests); the same as clients check --online")
      .argument('<client>', `client id (its file in CLIENTS_DIR must use adapter: ${def.kind})`)
      .action(async (id: string) => {
        process.exitCode = await checkOnline(id, deps, def.kind);
      });
    for (const cmd of cmds) {
      const sub = group.command(cmd.name).description(cmd.description).argument('<client>', `client id (its file must use adapter: ${def.kind})`);
      for (const a of cmd.args ?? []) sub.argument(`<${a.name}>`, a.description);
      for (const o of cmd.options ?? []) (o.required ? sub.requiredOption(o.flags, o.description) : sub.option(o.flags, o.description));
      sub.action(async (id: string, ...rest: unknown[]) => {
        const positional = rest.slice(0, (cmd.args ?? []).length).map(String);
        const options = (rest[(cmd.args ?? []).length] ?? {}) as Record<string, unknown>;
        process.exitCode = await withClient(id, deps, async (c) => {
          assertKind(c, def.kind);
          try {
            return await waitingOut(() => c.channel.asAdmin(() => cmd.run(commandContext(c, deps), positional, options)), deps.err);
          } catch (err) {
            deps.err(`lead-export: ${(err as Error).message}\n`);
            return exitCodeOf(err);
          }
        });
      });
    }
  }
}

/** `clients check --online <client>` and `<kind> check-online <client>`: returns the exit code. */
export async function checkOnline(id: string, deps: CliDeps, kind?: string): Promise<number> {
  return withClient(id, deps, async (c) => {
    if (kind) assertKind(c, kind);
    if (!c.channel.hasOnlineCheck) {
      deps.err(`${id}: the ${c.config.adapter} adapter has no online check\n`);
      return 0;
    }
    let report: OnlineCheckReport;
    try {
      report = await waitingOut(() => c.channel.checkOnline(), deps.err);
    } catch (err) {
      deps.err(`lead-export: ${id}: the CRM check could not finish: ${(err as Error).message}\n`);
      return exitCodeOf(err);
    }
    for (const line of report.description) deps.print(line);
    deps.print('');
    deps.print(`checks of ${id}:`);
    for (const ch of report.checks) deps.print(`  ${ch.level === 'ok' ? 'ok     ' : ch.level === 'warn' ? 'WARN   ' : 'MISSING'}  ${ch.what}: ${ch.message}`);
    const missing = report.checks.filter((r) => r.level === 'missing').length;
    deps.print(missing ? `${missing} setting(s) in the client file do not match the live CRM` : 'every id and path in the client file matches the live CRM');
    return missing ? 1 : 0;
  });
}

function assertKind(c: OpenClient, kind: string): void {
  if (c.config.adapter !== kind) throw new InputError('usage', `${c.config.id} uses adapter '${c.config.adapter}', not ${kind}`);
}

function commandContext(c: OpenClient, deps: CliDeps): AdapterCommandContext {
  const parts = c.channel.adapterParts();
  return {
    clientId: c.config.id,
    settings: parts.settings,
    mapping: parts.mapping,
    ctx: parts.ctx,
    adapter: parts.adapter,
    print: (l) => deps.print(l),
    warn: (l) => deps.err(`${l}\n`),
    resumeAfterReconnect: () => resumeAfterReconnect(c),
  };
}

/** Resumes a client paused for credentials; a pause a person made stays (support resumes it). */
async function resumeAfterReconnect(c: OpenClient): Promise<string[]> {
  const id = c.config.id;
  const control = ClientControl.open(c.service.redisUrl, c.service.queuePrefix, id, c.service.clientsDir);
  try {
    const before = await control.status();
    if (before.circuit.reason === 'manual') {
      return [`${id}: left paused: it was paused by a person (${before.circuit.detail ?? 'manual'}); resume with lead-export clients resume ${id}`];
    }
    await control.resume();
    const waiting = (before.counts.wait ?? 0) + (before.counts.delayed ?? 0) + (before.counts.prioritized ?? 0);
    const why = before.circuit.state === 'closed' ? '' : ` (was paused: ${before.circuit.reason ?? 'unknown'})`;
    const out = [`${id}: resumed${why}; ${waiting} lead(s) waiting will be delivered`];
    if (!c.config.enabled) out.push(`${id}: note: the client file says enabled: false, so nothing is sent until it is enabled`);
    else if (c.config.paused) out.push(`${id}: note: the client file says paused: true, so nothing is sent until that is removed`);
    return out;
  } finally {
    await control.close();
  }
}
