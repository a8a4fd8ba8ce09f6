import type { AdapterCapabilities, AdapterConfig, AdapterContext, AdapterDefinition, CrmAdapter, OnlineCheckReport, PushItem, PushOutcome } from '../types';
import type { LeadV1 } from '../../src/domain/lead';
import { AmoApi } from './api';
import { amoCommands } from './commands';
import { createAmoAuth, type AmoAuth } from './oauth';
import { amoOnlineCheck } from './online-check';
import { AmoPusher } from './push';
import { AmoMappingSchema, AmoSettingsSchema, COMPLEX_MAX_BATCH, amoBaseUrl, type AmoMapping, type AmoSettings } from './settings';

/**
 * amoCRM (API v4): leads go in through POST /api/v4/leads/complex — lead, contact and tags in one
 * request, up to 50 leads — authenticated with a private integration's OAuth tokens (rotating,
 * shared by all processes through the adapter store) or a long-lived token.
 *
 * Files: settings.ts (client file schemas), mapping.ts (LeadV1 → payload), oauth.ts (tokens),
 * api.ts (endpoints + response schemas), classify.ts (status → error kind), push.ts (the batch logic),
 * online-check.ts (`clients check --online`), commands.ts (`lead-export amocrm connect …`).
 */

/** amoCRM's documented ceiling: 7 requests per second per integration (reference §3.1). */
export const AMO_RATE_LIMIT = { requests: 7, perSeconds: 1 } as const;

function capabilities(s: AmoSettings): AdapterCapabilities {
  return {
    maxBatchSize: Math.min(COMPLEX_MAX_BATCH, s.batchSize),
    statusPolling: 'events',
    knownRateLimit: { ...AMO_RATE_LIMIT },
  };
}

export const amocrmAdapter: AdapterDefinition<AmoSettings, AmoMapping> = {
  kind: 'amocrm',
  settingsSchema: AmoSettingsSchema,
  mappingSchema: AmoMappingSchema,
  capabilities,
  baseUrl: amoBaseUrl,
  timeoutMs: (s) => s.timeoutMs,
  create: (config, ctx) => new AmoAdapter(config, ctx),
  commands: amoCommands,
};

export class AmoAdapter implements CrmAdapter {
  readonly kind = 'amocrm';
  readonly capabilities: AdapterCapabilities;
  readonly api: AmoApi;
  private readonly auth: AmoAuth;
  private readonly pusher: AmoPusher;

  constructor(
    private readonly config: AdapterConfig<AmoSettings, AmoMapping>,
    ctx: AdapterContext,
  ) {
    this.capabilities = capabilities(config.settings);
    this.auth = createAmoAuth(config.settings, ctx, config.settings.timeoutMs ?? config.requestTimeoutMs);
    this.api = new AmoApi(ctx, this.auth);
    const batchSize = Math.max(1, Math.min(config.batchSize, this.capabilities.maxBatchSize));
    this.pusher = new AmoPusher(this.api, config.settings, config.mapping, batchSize, ctx);
  }

  push(items: PushItem[]): Promise<PushOutcome[]> {
    return this.pusher.push(items);
  }

  async findExisting(lead: LeadV1): Promise<{ crmId: string } | null> {
    const crmId = (await this.pusher.lookup([lead.leadId])).get(lead.leadId);
    return crmId === undefined ? null : { crmId };
  }

  /** GET /api/v4/account: cheap, read-only and authenticated (probes after a 'blocked' cooldown). */
  async ping(): Promise<void> {
    await this.api.account('probe');
  }

  checkOnline(): Promise<OnlineCheckReport> {
    return amoOnlineCheck(this.api, this.config.settings, this.config.mapping);
  }

  maintain(): Promise<void> {
    return this.auth.maintain();
  }
}

