import type { FakeAmo } from '../support/fake-amocrm';
import { call, candidate, createLeads, manualClock, useFakeAmo, type Res } from './amocrm-client';

const { startWithToken } = useFakeAmo();

interface Ev {
  id: string;
  type: string;
  entity_id: number;
  created_at: number;
  created_by: number;
  value_before: unknown[];
  value_after: unknown[];
}

const getEvents = (f: FakeAmo, token: string, qs = ''): Promise<Res> => call(f, 'GET', `/api/v4/events${qs}`, { token });
const eventsOf = (r: Res): Ev[] => (r.status === 200 ? r.json._embedded.events : []);

/** Every event of the query, following `_links.next` until a 204. */
async function allPages(f: FakeAmo, token: string, qs: string): Promise<{ events: Ev[]; pages: Res[] }> {
  const pages: Res[] = [];
  let path = `/api/v4/events${qs}`;
  for (;;) {
    const r = await call(f, 'GET', path, { token });
    pages.push(r);
    if (r.status === 204) break;
    expect(r.status).toBe(200);
    const next = r.json._links.next?.href as string | undefined;
    if (!next) break;
    const u = new URL(next);
    path = u.pathname + u.search;
  }
  return { events: pages.flatMap(eventsOf), pages };
}

describe('events feed: filters and paging', () => {
  test('filters by type, entity, entity_id, created_at and status values; 204 when empty; desc order on request', async () => {
    const { f, token } = await startWithToken({ eventsOrder: 'desc' });
    const [l0, l1] = await createLeads(f, token, [candidate(0), candidate(1)]);
    f.setLeadStatus(l0, 1003);
    f.setLeadStatus(l0, 142);
    f.setLeadStatus(l1, 2003, 2000);
    expect(() => f.setLeadStatus(l1, 9999)).toThrow(/status 9999/);
    expect(() => f.setLeadStatus(1, 1003)).toThrow(/no lead 1/);

    const get = (qs: string): Promise<Res> => getEvents(f, token, qs);
    const all = await get('');
    expect(all.json._embedded.events).toHaveLength(5);
    const ids = all.json._embedded.events.map((e: Ev) => e.id);
    expect(ids).toEqual([...ids].sort().reverse());
    expect(ids[0]).toMatch(/^[0-9a-z]{26}$/);

    const changed = await get('?filter[type]=lead_status_changed');
    expect(changed.json._embedded.events).toHaveLength(3);
    const e = changed.json._embedded.events.find((x: Ev) => x.entity_id === l1);
    expect(e).toMatchObject({
      type: 'lead_status_changed',
      entity_type: 'lead',
      created_by: 0,
      value_before: [{ lead_status: { id: 1002, pipeline_id: 1000 } }],
      value_after: [{ lead_status: { id: 2003, pipeline_id: 2000 } }],
      _embedded: { entity: { id: l1 } },
    });
    expect(eventsOf(await get('?filter[type][]=lead_added&filter[type][]=lead_status_changed'))).toHaveLength(5);
    expect(eventsOf(await get('?filter[type][0]=lead_status_changed'))).toHaveLength(3);
    // The official PHP library joins several types with commas.
    expect(eventsOf(await get(`?filter[type]=lead_added,lead_status_changed&filter[entity]=lead&filter[entity_id][]=${l0}`))).toHaveLength(3);
    expect(eventsOf(await get(`?filter[entity]=lead&filter[entity_id]=${l1}`)).map((x) => x.type)).toEqual(['lead_status_changed', 'lead_added']);
    expect((await get('?filter[entity]=contact')).status).toBe(204);
    // Entity names are singular, as documented.
    expect((await get('?filter[entity]=leads')).status).toBe(204);
    expect(eventsOf(await get('?filter[value_after][leads_statuses][0][pipeline_id]=1000&filter[value_after][leads_statuses][0][status_id]=142'))).toHaveLength(1);
    expect(eventsOf(await get('?filter[value_before][leads_statuses][0][pipeline_id]=1000&filter[value_before][leads_statuses][0][status_id]=1002'))).toHaveLength(2);
    const none = await get('?filter[type]=lead_deleted');
    expect([none.status, none.text]).toEqual([204, '']);
  });

  test('filter[entity_id] needs one filter[entity]; entity_id and created_by take at most 10 ids', async () => {
    const { f, token } = await startWithToken();
    const [l0] = await createLeads(f, token, [candidate(0)]);
    const get = (qs: string): Promise<Res> => getEvents(f, token, qs);
    const alone = await get(`?filter[entity_id]=${l0}`);
    expect(alone.status).toBe(400);
    expect(alone.json.detail).toBe('filter[entity_id] needs exactly one filter[entity]');
    expect((await get(`?filter[entity]=lead,contact&filter[entity_id]=${l0}`)).status).toBe(400);
    const eleven = Array.from({ length: 11 }, (_, i) => `filter[entity_id][]=${l0 + i}`).join('&');
    expect((await get(`?filter[entity]=lead&${eleven}`)).json.detail).toBe('filter[entity_id] takes at most 10 ids');
    const ten = Array.from({ length: 10 }, (_, i) => `filter[entity_id][]=${l0 + i}`).join('&');
    expect(eventsOf(await get(`?filter[entity]=lead&${ten}`))).toHaveLength(1);
    expect((await get(`?filter[created_by]=${Array.from({ length: 11 }, (_, i) => i).join(',')}`)).status).toBe(400);
  });

  test('created_at: from/to, the scalar form (events from then on) and the legacy "from,to" form, in unix seconds', async () => {
    const clock = manualClock(Date.UTC(2026, 10, 1, 12, 0, 0, 500));
    const t0 = Math.floor(clock.now() / 1000);
    const { f, token } = await startWithToken({ clock: clock.now });
    const [lead] = await createLeads(f, token, [candidate(0)]); // lead_added at t0
    clock.advance(10_000);
    f.setLeadStatus(lead, 1003); // t0 + 10
    clock.advance(10_000);
    f.setLeadStatus(lead, 1004); // t0 + 20
    const at = async (qs: string): Promise<number[]> => eventsOf(await getEvents(f, token, `${qs}&limit=100`)).map((e) => e.created_at - t0).sort((a, b) => a - b);

    const all = eventsOf(await getEvents(f, token));
    expect(all.map((e) => typeof e.id)).toEqual(['string', 'string', 'string']);
    expect(all.map((e) => e.created_at - t0).sort((a, b) => a - b)).toEqual([0, 10, 20]);
    expect(await at(`?filter[created_at][from]=${t0 + 10}`)).toEqual([10, 20]);
    expect(await at(`?filter[created_at][to]=${t0 + 10}`)).toEqual([0, 10]);
    expect(await at(`?filter[created_at][from]=${t0 + 1}&filter[created_at][to]=${t0 + 19}`)).toEqual([10]);
    expect(await at(`?filter[created_at]=${t0 + 10}`)).toEqual([10, 20]);
    expect(await at(`?filter[created_at]=${t0 + 5},${t0 + 15}`)).toEqual([10]);
    expect((await getEvents(f, token, `?filter[created_at][from]=${t0 + 21}`)).status).toBe(204);
  });

  test('limit ≤ 100 (422 above); a full page always carries next, and the page after the last answers 204', async () => {
    const { f, token } = await startWithToken();
    const ids = await createLeads(f, token, [candidate(0), candidate(1)]);
    f.setLeadStatus(ids[0], 1003);
    f.setLeadStatus(ids[1], 1003); // 4 events
    const over = await getEvents(f, token, '?limit=101');
    expect(over.status).toBe(422);
    expect(over.json).toEqual({ title: 'Unprocessable Entity', type: 'https://httpstatus.es/422', status: 422, detail: 'Limit 100 per page' });
    expect(eventsOf(await getEvents(f, token, '?limit=100'))).toHaveLength(4);

    const { events, pages } = await allPages(f, token, '?limit=2');
    expect(pages.map((p) => p.status)).toEqual([200, 200, 204]);
    expect(pages[1].json._page).toBe(2);
    expect(new Set(events.map((e) => e.id)).size).toBe(4);
    const short = await getEvents(f, token, '?limit=3&page=2');
    expect(eventsOf(short)).toHaveLength(1);
    expect(short.json._links.next).toBeUndefined();
  });
});

describe('events feed: order', () => {
  async function manyEvents(opts: Parameters<ReturnType<typeof useFakeAmo>['startWithToken']>[0]): Promise<{ f: FakeAmo; token: string }> {
    const { f, token } = await startWithToken(opts);
    const ids = await createLeads(f, token, Array.from({ length: 15 }, (_, i) => candidate(i)));
    for (const id of ids) f.setLeadStatus(id, 1003);
    return { f, token }; // 30 events
  }

  test('default: shuffled — neither time nor id order, yet the pages of one query agree with each other and over time', async () => {
    const { f, token } = await manyEvents({});
    const whole = eventsOf(await getEvents(f, token, '?limit=100')).map((e) => e.id);
    expect(whole).toHaveLength(30);
    const byId = [...whole].sort();
    // 30 random keys land in id order (either way) with a chance of 2 in 30!: never, in practice.
    expect(whole).not.toEqual(byId);
    expect(whole).not.toEqual([...byId].reverse());
    const created = f.events().map((e) => e.id);
    expect(byId).toEqual(created); // ids themselves follow creation

    const paged = (await allPages(f, token, '?limit=7')).events.map((e) => e.id);
    expect(paged).toEqual(whole);
    expect(eventsOf(await getEvents(f, token, '?limit=100')).map((e) => e.id)).toEqual(whole);
    // A filter keeps the relative order of what it leaves.
    const changed = eventsOf(await getEvents(f, token, '?filter[type]=lead_status_changed&limit=100')).map((e) => e.id);
    expect(changed).toEqual(whole.filter((id) => changed.includes(id)));
  });

  test("'asc' and 'desc' give creation order and its reverse", async () => {
    const asc = await manyEvents({ eventsOrder: 'asc' });
    const ascIds = eventsOf(await getEvents(asc.f, asc.token, '?limit=100')).map((e) => e.id);
    expect(ascIds).toEqual(asc.f.events().map((e) => e.id));
    const desc = await manyEvents({ eventsOrder: 'desc' });
    const descIds = eventsOf(await getEvents(desc.f, desc.token, '?limit=100')).map((e) => e.id);
    expect(descIds).toEqual(desc.f.events().map((e) => e.id).reverse());
  });

  test('a bad eventsOrder is refused by name', async () => {
    await expect(startWithToken({ eventsOrder: 'newest' as 'asc' })).rejects.toThrow(/option eventsOrder/);
  });
});

describe('status changes', () => {
  test('every move writes lead_status_changed; 142/143 in any pipeline; a move into another pipeline changes pipeline_id', async () => {
    const { f, token } = await startWithToken({ eventsOrder: 'asc' });
    const [a, b, c] = await createLeads(f, token, [candidate(0), candidate(1, { pipeline_id: 2000 }), candidate(2)]);
    f.setLeadStatus(a, 143); // lost, main pipeline
    f.setLeadStatus(b, 142); // won, stays in pipeline 2000
    f.setLeadStatus(c, 2003); // a status of pipeline 2000: moves there
    f.setLeadStatus(c, 1004, 1000); // and back, naming the pipeline
    f.setLeadStatus(c, 142, 2000); // won in pipeline 2000
    f.setLeadStatus(c, 142, 2000); // no move, no event
    expect(() => f.setLeadStatus(c, 1004, 2000)).toThrow(/not in pipeline 2000/);

    const moves = eventsOf(await getEvents(f, token, '?filter[type]=lead_status_changed')).map((e) => [e.entity_id, e.value_before, e.value_after]);
    const ls = (id: number, pipeline: number): unknown[] => [{ lead_status: { id, pipeline_id: pipeline } }];
    expect(moves).toEqual([
      [a, ls(1002, 1000), ls(143, 1000)],
      [b, ls(2002, 2000), ls(142, 2000)],
      [c, ls(1002, 1000), ls(2003, 2000)],
      [c, ls(2003, 2000), ls(1004, 1000)],
      [c, ls(1004, 1000), ls(142, 2000)],
    ]);
    const leads = new Map(f.leads().map((l) => [l.id, l]));
    expect(leads.get(a)).toMatchObject({ status_id: 143, pipeline_id: 1000, closed_at: expect.any(Number) });
    expect(leads.get(b)).toMatchObject({ status_id: 142, pipeline_id: 2000 });
    expect(leads.get(c)).toMatchObject({ status_id: 142, pipeline_id: 2000 });
  });

  test('several moves of one lead inside one second differ only by event id, which sorts in move order', async () => {
    const clock = manualClock(Date.UTC(2026, 10, 1, 12, 0, 0, 0));
    const { f, token } = await startWithToken({ clock: clock.now });
    const [lead] = await createLeads(f, token, [candidate(0)]);
    for (const s of [1003, 1004, 1002, 142]) {
      clock.advance(100);
      f.setLeadStatus(lead, s);
    }
    const moves = eventsOf(await getEvents(f, token, '?filter[type]=lead_status_changed')).sort((x, y) => (x.id < y.id ? -1 : 1));
    expect(new Set(moves.map((e) => e.created_at))).toEqual(new Set([Math.floor(clock.now() / 1000)]));
    expect(new Set(moves.map((e) => e.id)).size).toBe(4);
    expect(moves.map((e) => (e.value_after[0] as { lead_status: { id: number } }).lead_status.id)).toEqual([1003, 1004, 1002, 142]);
    // Even at the very same millisecond.
    f.setLeadStatus(lead, 1003);
    f.setLeadStatus(lead, 1004);
    const last = f.events().slice(-2);
    expect(last[0].id < last[1].id).toBe(true);
    expect(last[0].created_at).toBe(last[1].created_at);
  });
});

describe('createForeignLead', () => {
  test('a lead someone typed in by hand: own external id or none, created by a user; its moves show in the feed', async () => {
    const { f, token } = await startWithToken({ eventsOrder: 'asc' });
    const withId = f.createForeignLead({ name: 'Позвонил сам', fields: { 500: 'manual-7' }, pipelineId: 2000 });
    const bare = f.createForeignLead();
    expect(withId).toMatchObject({ created_by: 1, pipeline_id: 2000, status_id: 2002 });
    expect(withId.custom_fields_values).toEqual([{ field_id: 500, field_name: 'External ID', field_code: null, field_type: 'text', values: [{ value: 'manual-7' }] }]);
    expect(bare).toMatchObject({ created_by: 1, pipeline_id: 1000, status_id: 1002, custom_fields_values: null });

    const found = await call(f, 'GET', '/api/v4/leads?filter[custom_fields_values][500][]=manual-7', { token });
    expect(found.json._embedded.leads.map((l: { id: number }) => l.id)).toEqual([withId.id]);
    f.setLeadStatus(bare.id, 143);
    const events = eventsOf(await getEvents(f, token)).map((e) => [e.type, e.entity_id, e.created_by]);
    expect(events).toEqual([
      ['lead_added', withId.id, 1],
      ['lead_added', bare.id, 1],
      ['lead_status_changed', bare.id, 0],
    ]);
  });

  test('bad options throw with the validation error that names the field', async () => {
    const { f } = await startWithToken();
    expect(() => f.createForeignLead({ fields: { 999: 'x' } })).toThrow(/custom_fields_values\.0\.field_id/);
    expect(() => f.createForeignLead({ pipelineId: 1000, statusId: 2003 })).toThrow(/status_id/);
    expect(f.leads()).toHaveLength(0);
  });
});
