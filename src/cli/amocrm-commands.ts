import { connectRedis } from '../queue/redis-connection';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import type { AdapterContext, AdapterLogger } from '../../adapters/types';
import { AmoApi, type AmoCustomField, type AmoPipeline } from '../../adapters/amocrm/api';
import { createAmoAuth, exchangeCode, importTokens } from '../../adapters/amocrm/oauth';
import { amoBaseUrl, type AmoMapping, type AmoSettings } from '../../adapters/amocrm/settings';
import { formatClientFileError, loadClientFile } from '../config/client-loader';
import type { ClientConfig } from '../config/client-schema';
import { EnvFileSecretResolver } from '../config/secret-ref';
import type { ServiceConfig } from '../config/service-config';
import { RedisAdapterStore } from '../delivery/redis-store';
import { InputError } from '../domain/errors';
import { CLIENT_ID_PATTERN } from '../domain/lead';
import { arrivalGuardMs, SharedRateLimiter } from '../flow/rate-limiter';
import { FlowControlledHttp } from '../http/crm-http';
import { Keys } from '../queue/keys';
import { ClientControl } from './client-control';

/**
 * `lead-export amocrm …`: connecting an amoCRM account and checking a client file against it.
 *
 *   amocrm connect <client> --code <code>     exchange an authorization code, store the tokens, resume
 *   amocrm check-online <client>              list pipelines/statuses/fields, check the file's ids
 *   amocrm import-tokens <client> --access env:A --refresh env:R
 *
 * Every request goes through the client's shared rate limiter, like the service's own, so running a
 * command next to busy workers never pushes the account over its limit.
 */

export interface AmocrmCommandDeps {
  serviceConfig: () => ServiceConfig;
  print: (s: string) => void;
  err: (s: string) => void;
  /** Where env:NAME secrets are read (default process.env). */
  env?: NodeJS.ProcessEnv;
}

interface OpenClient {
  config: ClientConfig;
  settings: AmoSettings;
  mapping: AmoMapping;
  ctx: AdapterContext;
  service: ServiceConfig;
  close(): Promise<void>;
}

function clientIdOf(v: string): string {
  if (!CLIENT_ID_PATTERN.test(v)) throw new InputError('usage', `'${v}' is not a client id (a-z 0-9 -, as in the client file name)`);
  return v;
}

async function clientFile(dir: string, clientId: string): Promise<string> {
  for (const ext of ['yaml', 'yml']) {
    const p = join(dir, `${clientId}.${ext}`);
    if (await access(p).then(() => true, () => false)) return p;
  }
  throw new InputError('usage', `no client file ${clientId}.yaml in ${dir} (CLIENTS_DIR)`);
}

/** Messages only: the objects adapters log are for the service's JSON logs, not for a terminal. */
function terminalLogger(err: (s: string) => void): AdapterLogger {
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: (_o, msg) => err(`warning: ${msg ?? ''}\n`),
    error: (_o, msg) => err(`error: ${msg ?? ''}\n`),
  };
}

async function openClient(rawId: string, deps: AmocrmCommandDeps): Promise<OpenClient> {
  const clientId = clientIdOf(rawId);
  const service = deps.serviceConfig();
  const file = await clientFile(service.clientsDir, clientId);
  const loaded = await loadClientFile(file);
  if (!loaded.ok) {
    throw new InputError('config', `${loaded.file} is not valid (fix it first; lead-export clients check shows the same)`, loaded.errors.map((e) => ({ path: e.path, message: formatClientFileError(e) })));
  }
  const config = loaded.config;
  if (config.adapter !== 'amocrm') throw new InputError('usage', `${clientId} uses adapter '${config.adapter}', not amocrm`);
  if (!service.tokenEncryptionKey) {
    throw new InputError('config', 'TOKEN_ENCRYPTION_KEY is not set: amoCRM tokens are stored encrypted, with the same key the service uses');
  }
  const settings = config.settings as AmoSettings;
  const redis: Redis = connectRedis(service.redisUrl, { maxRetriesPerRequest: 2, connectTimeout: 3_000 });
  redis.on('error', () => undefined);
  const keys = new Keys(service.queuePrefix);
  const log = terminalLogger(deps.err);
  const http = new FlowControlledHttp({
    clientId,
    baseUrl: amoBaseUrl(settings),
    timeoutMs: settings.timeoutMs ?? config.timeouts.request,
    log,
    gate: new SharedRateLimiter(redis, keys.flow(clientId), config.rateLimit, { guardMs: arrivalGuardMs }),
  });
  const ctx: AdapterContext = {
    clientId,
    http,
    secrets: new EnvFileSecretResolver(deps.env ?? process.env),
    store: new RedisAdapterStore(redis, keys.store(clientId), service.tokenEncryptionKey),
    log,
    now: () => Date.now(),
  };
  return {
    config,
    settings,
    mapping: config.mapping as AmoMapping,
    ctx,
    service,
    close: async () => {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

async function withClient(id: string, deps: AmocrmCommandDeps, fn: (c: OpenClient) => Promise<void>): Promise<void> {
  const c = await openClient(id, deps);
  try {
    await fn(c);
  } finally {
    await c.close();
  }
}

/** Resumes a client paused for credentials; a pause a person made stays (support resumes it). */
async function resumeAfterConnect(c: OpenClient, print: (s: string) => void): Promise<void> {
  const control = ClientControl.open(c.service.redisUrl, c.service.queuePrefix, c.ctx.clientId, c.service.clientsDir);
  try {
    const before = await control.status();
    if (before.circuit.reason === 'manual') {
      print(`${c.ctx.clientId}: left paused: it was paused by a person (${before.circuit.detail ?? 'manual'}); resume with lead-export clients resume ${c.ctx.clientId}`);
      return;
    }
    await control.resume();
    const waiting = (before.counts.wait ?? 0) + (before.counts.delayed ?? 0) + (before.counts.prioritized ?? 0);
    const why = before.circuit.state === 'closed' ? '' : ` (was paused: ${before.circuit.reason ?? 'unknown'})`;
    print(`${c.ctx.clientId}: resumed${why}; ${waiting} lead(s) waiting will be delivered`);
    if (!c.config.enabled) print(`${c.ctx.clientId}: note: the client file says enabled: false, so nothing is sent until it is enabled`);
    else if (c.config.paused) print(`${c.ctx.clientId}: note: the client file says paused: true, so nothing is sent until that is removed`);
  } finally {
    await control.close();
  }
}

export function registerAmocrmCommands(program: Command, deps: AmocrmCommandDeps): void {
  const { print } = deps;
  const amo = program.command('amocrm').description('amoCRM accounts: connect (OAuth), check a client file against the live account');

  amo
    .command('connect')
    .description('exchange an authorization code of the private integration for tokens, store them (encrypted) and resume the client')
    .argument('<client>', 'client id (its file in CLIENTS_DIR must use adapter: amocrm)')
    .requiredOption('--code <code>', 'authorization code from the integration settings (valid for 20 minutes, single use)')
    .action((id: string, o: { code: string }) =>
      withClient(id, deps, async (c) => {
        const tokens = await exchangeCode(c.settings, o.code, c.ctx);
        print(`${id}: tokens stored for ${amoBaseUrl(c.settings)} (access token valid until ${new Date(tokens.expiresAt).toISOString()}, refreshed automatically)`);
        const account = await new AmoApi(c.ctx, createAmoAuth(c.settings, c.ctx)).account('auth');
        print(`${id}: account ${account.id} "${account.name}" (${account.subdomain}) answers`);
        await resumeAfterConnect(c, print);
      }),
    );

  amo
    .command('import-tokens')
    .description('take over an access/refresh token pair obtained elsewhere (that system must stop using it: refresh tokens are single-use)')
    .argument('<client>', 'client id')
    .requiredOption('--access <ref>', 'the access token as a secret reference: env:NAME or file:/path')
    .requiredOption('--refresh <ref>', 'the refresh token as a secret reference: env:NAME or file:/path')
    .option('--expires-in <seconds>', 'seconds the access token has left (default: refresh on first use)', (v) => Number(v))
    .action((id: string, o: { access: string; refresh: string; expiresIn?: number }) =>
      withClient(id, deps, async (c) => {
        if (o.expiresIn !== undefined && !(Number.isFinite(o.expiresIn) && o.expiresIn >= 0)) throw new InputError('usage', '--expires-in must be a number of seconds');
        const accessToken = await c.ctx.secrets.resolve(o.access);
        const refreshToken = await c.ctx.secrets.resolve(o.refresh);
        await importTokens(c.settings, { accessToken, refreshToken, expiresInSeconds: o.expiresIn }, c.ctx);
        print(`${id}: tokens imported`);
        await resumeAfterConnect(c, print);
      }),
    );

  amo
    .command('check-online')
    .description("list the live account's pipelines, statuses and custom fields, and check the ids in the client file (exit 1 if any is missing)")
    .argument('<client>', 'client id')
    .action(async (id: string) => {
      if ((await amocrmCheckOnline(id, deps)) !== 0) process.exitCode = 1;
    });
}

/**
 * `amocrm check-online <client>` (also what `clients check --online <client>` should call): prints the
 * account's pipelines, statuses and fields and checks the client file's ids. Returns the exit code:
 * 0 when every id exists, 1 otherwise.
 */
export async function amocrmCheckOnline(id: string, deps: AmocrmCommandDeps): Promise<number> {
  const { print } = deps;
  let missing = 0;
  await withClient(id, deps, async (c) => {
    const api = new AmoApi(c.ctx, createAmoAuth(c.settings, c.ctx));
    const account = await api.account();
    // One after the other: the limiter would serialize them anyway, and the order keeps output stable.
    const pipelines = await api.pipelines();
    const leadFields = await api.customFields('leads');
    const contactFields = await api.customFields('contacts');
    const report = checkAgainstAccount(c.settings, c.mapping, pipelines, leadFields, contactFields);
    print(`account ${account.id} "${account.name}" (${account.subdomain})`);
    print('');
    for (const line of describeAccount(pipelines, leadFields, contactFields)) print(line);
    print('');
    print(`checks of ${id}:`);
    for (const ch of report) print(`  ${ch.level === 'ok' ? 'ok     ' : ch.level === 'warn' ? 'WARN   ' : 'MISSING'}  ${ch.what}: ${ch.message}`);
    missing = report.filter((r) => r.level === 'missing').length;
    print(missing ? `${missing} id(s) in the client file do not exist in the account` : 'every id in the client file exists in the account');
  });
  return missing ? 1 : 0;
}

export interface CheckLine {
  level: 'ok' | 'warn' | 'missing';
  what: string;
  message: string;
}

const TEXT_TYPES = new Set(['text', 'textarea', 'tracking_data', 'url', 'streetaddress']);
const CLOSED = new Set([142, 143]);

/** Compares the client file's ids with the account. Pure, so it is unit-tested without a server. */
export function checkAgainstAccount(
  s: AmoSettings,
  m: AmoMapping,
  pipelines: AmoPipeline[],
  leadFields: AmoCustomField[],
  contactFields: AmoCustomField[],
): CheckLine[] {
  const out: CheckLine[] = [];
  const pipeline = pipelines.find((p) => p.id === s.pipelineId);
  if (!pipeline) out.push({ level: 'missing', what: `settings.pipelineId ${s.pipelineId}`, message: 'no such pipeline' });
  else out.push({ level: 'ok', what: `settings.pipelineId ${s.pipelineId}`, message: `"${pipeline.name}"` });
  const status = pipeline?._embedded.statuses.find((x) => x.id === s.statusId);
  if (!pipeline) out.push({ level: 'missing', what: `settings.statusId ${s.statusId}`, message: 'cannot be checked: the pipeline does not exist' });
  else if (!status) out.push({ level: 'missing', what: `settings.statusId ${s.statusId}`, message: `not a status of pipeline ${pipeline.id}` });
  else if (CLOSED.has(status.id)) out.push({ level: 'missing', what: `settings.statusId ${s.statusId}`, message: `"${status.name}" is a closed (won/lost) status; new leads must start in an open one` });
  else if (status.type === 1) out.push({ level: 'warn', what: `settings.statusId ${s.statusId}`, message: `"${status.name}" is the Unsorted stage: leads wait there to be accepted by hand` });
  else out.push({ level: 'ok', what: `settings.statusId ${s.statusId}`, message: `"${status.name}"` });

  for (const [key, fid] of Object.entries(m.fields)) {
    if (typeof fid !== 'number') continue;
    const f = leadFields.find((x) => x.id === fid);
    const what = `mapping.fields.${key} ${fid}`;
    if (!f) out.push({ level: 'missing', what, message: 'no such lead custom field' });
    else if (!TEXT_TYPES.has(f.type)) {
      out.push({
        level: key === 'externalId' ? 'missing' : 'warn',
        what,
        message: `"${f.name}" is of type ${f.type}; ${key === 'externalId' ? 'the external id needs a text field' : 'values that are not among its choices will be rejected'}`,
      });
    } else out.push({ level: 'ok', what, message: `"${f.name}" (${f.type})` });
  }

  for (const [code, wanted, key] of [
    ['PHONE', m.phoneEnum, 'phoneEnum'],
    ['EMAIL', m.emailEnum, 'emailEnum'],
  ] as const) {
    const f = contactFields.find((x) => x.code === code);
    if (!f) out.push({ level: 'missing', what: `contact field ${code}`, message: 'the account has no contact field with this code' });
    else if (!(f.enums ?? []).some((e) => e.value === wanted)) {
      out.push({ level: 'missing', what: `mapping.${key} ${wanted}`, message: `not among the ${code} types: ${(f.enums ?? []).map((e) => e.value).join(', ')}` });
    } else out.push({ level: 'ok', what: `mapping.${key} ${wanted}`, message: `${code} field ${f.id}` });
  }
  if (s.responsibleUserId !== undefined) {
    out.push({ level: 'warn', what: `settings.responsibleUserId ${s.responsibleUserId}`, message: 'not checked (needs the users API); a wrong id makes amoCRM reject every lead' });
  }
  return out;
}

function describeAccount(pipelines: AmoPipeline[], leadFields: AmoCustomField[], contactFields: AmoCustomField[]): string[] {
  const lines: string[] = ['pipelines (settings.pipelineId) and their statuses (settings.statusId):'];
  for (const p of pipelines) {
    lines.push(`  ${p.id}  ${p.name}${p.is_main ? '  [main]' : ''}${p.is_archive ? '  [archived]' : ''}`);
    for (const st of p._embedded.statuses) {
      const tag = st.type === 1 ? '  [unsorted]' : CLOSED.has(st.id) ? '  [closed]' : '';
      lines.push(`      ${st.id}  ${st.name}${tag}`);
    }
  }
  lines.push('lead custom fields (mapping.fields.*):');
  for (const f of leadFields) lines.push(`  ${f.id}  ${f.name}  (${f.type}${f.code ? `, code ${f.code}` : ''})`);
  lines.push('contact custom fields:');
  for (const f of contactFields) {
    const enums = f.enums?.length ? `  types: ${f.enums.map((e) => e.value).join(', ')}` : '';
    lines.push(`  ${f.id}  ${f.name}  (${f.type}${f.code ? `, code ${f.code}` : ''})${enums}`);
  }
  return lines;
}
