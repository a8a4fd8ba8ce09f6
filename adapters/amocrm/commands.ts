import type { AdapterCommand, AdapterCommandContext } from '../types';
import { InputError } from '../../src/domain/errors';
import type { AmoAdapter } from './index';
import { exchangeCode, importTokens } from './oauth';
import { amoBaseUrl, type AmoMapping, type AmoSettings } from './settings';

/**
 * `lead-export amocrm …`: what only an amoCRM client needs. Each runs on the client's opened channel,
 * so its requests pass the client's shared rate limiter like the service's own.
 *
 *   amocrm connect <client> --code <code>     exchange an authorization code, store the tokens, resume
 *   amocrm import-tokens <client> --access env:A --refresh env:R
 *   amocrm check-online <client>              the same as `clients check --online <client>`
 */

type Ctx = AdapterCommandContext<AmoSettings, AmoMapping>;

async function reportAccount(c: Ctx): Promise<void> {
  const account = await (c.adapter as AmoAdapter).api.account('admin');
  c.print(`${c.clientId}: account ${account.id} "${account.name}" (${account.subdomain}) answers`);
}

export const amoCommands: ReadonlyArray<AdapterCommand<AmoSettings, AmoMapping>> = [
  {
    name: 'connect',
    description: 'exchange an authorization code of the private integration for tokens, store them (encrypted) and resume the client',
    options: [{ flags: '--code <code>', description: 'authorization code from the integration settings (valid for 20 minutes, single use)', required: true }],
    async run(c, _args, o) {
      const tokens = await exchangeCode(c.settings, String(o.code ?? ''), c.ctx);
      c.print(`${c.clientId}: tokens stored for ${amoBaseUrl(c.settings)} (access token valid until ${new Date(tokens.expiresAt).toISOString()}, refreshed automatically)`);
      await reportAccount(c);
      for (const line of await c.resumeAfterReconnect()) c.print(line);
      return 0;
    },
  },
  {
    name: 'import-tokens',
    description: 'take over an access/refresh token pair obtained elsewhere (that system must stop using it: refresh tokens are single-use)',
    options: [
      { flags: '--access <ref>', description: 'the access token as a secret reference: env:NAME or file:/path', required: true },
      { flags: '--refresh <ref>', description: 'the refresh token as a secret reference: env:NAME or file:/path', required: true },
      { flags: '--expires-in <seconds>', description: 'seconds the access token has left (default: refresh on first use)' },
    ],
    async run(c, _args, o) {
      const expiresIn = o.expiresIn === undefined ? undefined : Number(o.expiresIn);
      if (expiresIn !== undefined && !(Number.isFinite(expiresIn) && expiresIn >= 0)) throw new InputError('usage', '--expires-in must be a number of seconds');
      const accessToken = await c.ctx.secrets.resolve(String(o.access));
      const refreshToken = await c.ctx.secrets.resolve(String(o.refresh));
      await importTokens(c.settings, { accessToken, refreshToken, expiresInSeconds: expiresIn }, c.ctx);
      c.print(`${c.clientId}: tokens imported`);
      for (const line of await c.resumeAfterReconnect()) c.print(line);
      return 0;
    },
  },
];
