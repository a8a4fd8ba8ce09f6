import type { AmoCustomFieldSeed, AmoPipelineSeed, AmoStatusSeed } from './types';
import { hal, halPage, isReply, noContent, paging, type Reply, type RequestContext } from './http';

export const WON = 142;
export const LOST = 143;

export const DEFAULT_PIPELINES: AmoPipelineSeed[] = [
  {
    id: 1000,
    name: 'Воронка',
    is_main: true,
    statuses: [
      { id: 1001, name: 'Неразобранное', type: 1 },
      { id: 1002, name: 'Новый отклик' },
      { id: 1003, name: 'Связались' },
      { id: 1004, name: 'Собеседование' },
    ],
  },
  {
    id: 2000,
    name: 'Кадровый резерв',
    statuses: [
      { id: 2001, name: 'Неразобранное', type: 1 },
      { id: 2002, name: 'Первичный контакт' },
      { id: 2003, name: 'Переговоры' },
    ],
  },
];

export const DEFAULT_LEAD_FIELDS: AmoCustomFieldSeed[] = [
  { id: 500, name: 'External ID', type: 'text' },
  { id: 501, name: 'Вакансия', type: 'text' },
  { id: 502, name: 'Город', type: 'text' },
  { id: 503, name: 'Источник', type: 'text' },
  { id: 510, name: 'utm_source', type: 'tracking_data', code: 'UTM_SOURCE' },
  { id: 511, name: 'utm_medium', type: 'tracking_data', code: 'UTM_MEDIUM' },
  { id: 512, name: 'utm_campaign', type: 'tracking_data', code: 'UTM_CAMPAIGN' },
  { id: 513, name: 'utm_term', type: 'tracking_data', code: 'UTM_TERM' },
  { id: 514, name: 'utm_content', type: 'tracking_data', code: 'UTM_CONTENT' },
];

export const DEFAULT_CONTACT_FIELDS: AmoCustomFieldSeed[] = [
  {
    id: 600,
    name: 'Телефон',
    type: 'multitext',
    code: 'PHONE',
    enums: [
      { id: 6001, value: 'WORK' },
      { id: 6002, value: 'MOB' },
      { id: 6003, value: 'OTHER' },
    ],
  },
  {
    id: 601,
    name: 'Email',
    type: 'multitext',
    code: 'EMAIL',
    enums: [
      { id: 6011, value: 'WORK' },
      { id: 6012, value: 'PRIV' },
      { id: 6013, value: 'OTHER' },
    ],
  },
];

const SYSTEM_STATUSES: AmoStatusSeed[] = [
  { id: WON, name: 'Успешно реализовано', is_editable: false, color: '#CCFF66' },
  { id: LOST, name: 'Закрыто и не реализовано', is_editable: false, color: '#D5D8DB' },
];

export interface Status {
  id: number;
  name: string;
  sort: number;
  is_editable: boolean;
  pipeline_id: number;
  color: string;
  type: 0 | 1;
}

export interface Pipeline {
  id: number;
  name: string;
  sort: number;
  is_main: boolean;
  statuses: Status[];
}

export type FieldEntity = 'leads' | 'contacts';

/** Pipelines, statuses and custom field definitions of the account: read-only after start. */
export class Catalog {
  readonly pipelines: Pipeline[];
  readonly fields: Record<FieldEntity, AmoCustomFieldSeed[]>;

  constructor(
    readonly accountId: number,
    readonly subdomain: string,
    pipelines: AmoPipelineSeed[],
    leadFields: AmoCustomFieldSeed[],
    contactFields: AmoCustomFieldSeed[],
  ) {
    this.pipelines = pipelines.map((p, i) => buildPipeline(p, i, pipelines));
    this.fields = { leads: leadFields, contacts: contactFields };
  }

  get entityBase(): string {
    return `https://${this.subdomain}.amocrm.ru`;
  }

  mainPipeline(): Pipeline {
    return this.pipelines.find((p) => p.is_main) ?? this.pipelines[0];
  }

  pipeline(id: number): Pipeline | undefined {
    return this.pipelines.find((p) => p.id === id);
  }

  hasStatus(pipeline: Pipeline, statusId: number): boolean {
    return pipeline.statuses.some((s) => s.id === statusId);
  }

  /** The pipeline a bare status_id belongs to; 142/143 exist everywhere, so they mean the main one. */
  pipelineOfStatus(statusId: number): Pipeline | undefined {
    if (statusId === WON || statusId === LOST) return this.mainPipeline();
    return this.pipelines.find((p) => this.hasStatus(p, statusId));
  }

  /** Where a lead lands when no status is given: the first ordinary stage, never unsorted or closed. */
  defaultStatus(pipeline: Pipeline): number {
    const s = pipeline.statuses.find((x) => x.type === 0 && x.id !== WON && x.id !== LOST);
    return (s ?? pipeline.statuses[0]).id;
  }

  unsortedStatus(pipeline: Pipeline): number {
    return (pipeline.statuses.find((x) => x.type === 1) ?? pipeline.statuses[0]).id;
  }

  field(entity: FieldEntity, key: { id?: number; code?: string }): AmoCustomFieldSeed | undefined {
    return this.fields[entity].find((f) => (key.id !== undefined ? f.id === key.id : f.code != null && f.code === key.code));
  }

  // --- HTTP ------------------------------------------------------------------------------------

  listPipelines(ctx: RequestContext): Reply {
    const items = this.pipelines.map((p) => this.renderPipeline(p));
    return hal({ _total_items: items.length, _links: { self: { href: `${ctx.baseUrl}${ctx.path}` } }, _embedded: { pipelines: items } });
  }

  getPipeline(id: number): Reply {
    const p = this.pipeline(id);
    return p ? hal(this.renderPipeline(p)) : noContent;
  }

  listFields(ctx: RequestContext, entity: FieldEntity): Reply {
    // amoCRM returns at most 50 fields per page whatever limit says above that (limit itself is capped at 250).
    const p = paging(ctx.query, 50, 250);
    if (isReply(p)) return p;
    const items = this.fields[entity].map((f, i) => this.renderField(f, i, entity));
    const total = items.length;
    return halPage(ctx, { page: p.page, limit: Math.min(p.limit, 50) }, items, 'custom_fields', {
      _total_items: total,
      _page_count: Math.max(1, Math.ceil(total / Math.min(p.limit, 50))),
    });
  }

  account(): Reply {
    return hal({
      id: this.accountId,
      name: 'Test Company',
      subdomain: this.subdomain,
      created_at: 1577836800,
      created_by: 0,
      updated_at: 1577836800,
      updated_by: 0,
      current_user_id: 1,
      country: 'RU',
      currency: 'RUB',
      currency_symbol: '₽',
      customers_mode: 'disabled',
      is_unsorted_on: true,
      is_loss_reason_enabled: true,
      is_helpbot_enabled: false,
      is_technical_account: false,
      contact_name_display_order: 1,
      _links: { self: { href: `${this.entityBase}/api/v4/account` } },
    });
  }

  private renderPipeline(p: Pipeline): object {
    const self = `${this.entityBase}/api/v4/leads/pipelines/${p.id}`;
    return {
      id: p.id,
      name: p.name,
      sort: p.sort,
      is_main: p.is_main,
      is_unsorted_on: p.statuses.some((s) => s.type === 1),
      is_archive: false,
      account_id: this.accountId,
      _links: { self: { href: self } },
      _embedded: {
        statuses: p.statuses.map((s) => ({ ...s, account_id: this.accountId, _links: { self: { href: `${self}/statuses/${s.id}` } } })),
      },
    };
  }

  private renderField(f: AmoCustomFieldSeed, i: number, entity: FieldEntity): object {
    return {
      id: f.id,
      name: f.name,
      type: f.type,
      account_id: this.accountId,
      code: f.code ?? null,
      sort: f.sort ?? (i + 1) * 10,
      is_api_only: false,
      enums: f.enums ? f.enums.map((e, j) => ({ id: e.id, value: e.value, sort: e.sort ?? (j + 1) * 2 })) : null,
      group_id: null,
      required_statuses: [],
      is_deletable: f.code == null,
      is_predefined: f.code != null,
      entity_type: entity,
      tracking_callback: null,
      remind: null,
      triggers: [],
      currency: null,
      hidden_statuses: [],
      chained_lists: null,
      _links: { self: { href: `${this.entityBase}/api/v4/${entity}/custom_fields/${f.id}` } },
    };
  }
}

function buildPipeline(p: AmoPipelineSeed, index: number, all: AmoPipelineSeed[]): Pipeline {
  const isMain = p.is_main ?? (index === 0 && !all.some((x) => x.is_main));
  const seeds = [...p.statuses, ...SYSTEM_STATUSES.filter((s) => !p.statuses.some((x) => x.id === s.id))];
  const statuses = seeds.map((s, i): Status => ({
    id: s.id,
    name: s.name,
    sort: s.sort ?? (s.id === WON ? 10000 : s.id === LOST ? 11000 : (i + 1) * 10),
    is_editable: s.is_editable ?? (s.type !== 1 && s.id !== WON && s.id !== LOST),
    pipeline_id: p.id,
    color: s.color ?? (s.type === 1 ? '#c1c1c1' : '#99ccff'),
    type: s.type ?? 0,
  }));
  statuses.sort((a, b) => a.sort - b.sort);
  return { id: p.id, name: p.name, sort: p.sort ?? (index + 1) * 100, is_main: isMain, statuses };
}
