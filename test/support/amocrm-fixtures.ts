import type { AmoCustomFieldSeed } from './fake-amocrm';

/**
 * Lead custom fields where the vacancy is a select with two choices, so a lead for any other vacancy
 * gets amoCRM's validation error (NotSupportedChoice) — the way the tests provoke one bad lead in a batch.
 */
export const SELECT_VACANCY_FIELDS: AmoCustomFieldSeed[] = [
  { id: 500, name: 'External ID', type: 'text' },
  { id: 501, name: 'Вакансия', type: 'select', enums: [{ id: 1, value: 'Courier' }, { id: 2, value: 'Picker' }] },
  { id: 502, name: 'Город', type: 'text' },
  { id: 503, name: 'Источник', type: 'text' },
  { id: 510, name: 'utm_source', type: 'tracking_data', code: 'UTM_SOURCE' },
  { id: 511, name: 'utm_medium', type: 'tracking_data', code: 'UTM_MEDIUM' },
  { id: 512, name: 'utm_campaign', type: 'tracking_data', code: 'UTM_CAMPAIGN' },
];
