/**
 * The two ways the fake CRM tells a poller what changed.
 *
 * GET /api/changes?since=<cursor>&limit=<n>  (every status change, in order)
 *   200 {changes:[{change_id, candidate_id, external_id, status, changed_at}], next_cursor}
 *
 * GET <updatedFeed.path, default /api/candidates/updated>?<updatedAfterParam>=<time>&<paging>
 *   (the current state of every candidate updated after a time; creation counts as an update)
 *   items: [{id, external_id, status, updated_at}], ordered by updated_at, then id (creation order).
 *   <time> and updated_at are in updatedFeed.timeFormat, whole seconds: '2026-01-31T12:00:00Z',
 *   1769860800 or 1769860800000. Strictly after the given time unless updatedAfterInclusive.
 *   Paging, by updatedFeed.pagination (page size = pageSize):
 *     page       ?page=1..           {items, page, page_size, total, total_pages}
 *     offset     ?offset=0..&limit=n {items, offset, limit, total}; limit is capped at pageSize, silently
 *     cursor     ?cursor=<opaque>    {items, next_cursor: string | null}  (null: nothing after this page)
 *     next-link  ?page=1..           {items, next: absolute URL | null}
 *   page, offset and next-link are positions in a list computed afresh per request, so an update
 *   between two requests shifts items (one can be skipped or seen twice); the cursor is a keyset
 *   position and never skips. A bad parameter gets 400 {error:'invalid_parameter', parameter, message}.
 */
import type { ResolvedFeedOptions } from './options';
import { type Ctx, error, firstHeader, intParam, json, type Reply } from './reply';
import { type CandidateStore, externalOf, type FeedPosition } from './store';
import { describeTimeFormat, formatTime, parseTime } from './time-format';

const CHANGES_DEFAULT_LIMIT = 100;
const CHANGES_MAX_LIMIT = 500;

export function listChanges(store: CandidateStore, ctx: Ctx): Reply {
  const since = ctx.query.since ?? '0';
  if (!/^\d{1,15}$/.test(since)) return error(400, 'invalid_cursor');
  const rawLimit = ctx.query.limit ?? String(CHANGES_DEFAULT_LIMIT);
  if (!/^\d{1,9}$/.test(rawLimit) || Number(rawLimit) < 1) return error(400, 'bad_request', { message: 'limit must be a positive integer' });
  const limit = Math.min(Number(rawLimit), CHANGES_MAX_LIMIT);
  const page = store.changesSince(Number(since), limit);
  // An empty page hands back the caller's own cursor untouched, not a normalised copy of it.
  const next = page.changes.length ? String(page.nextCursor) : since;
  return json(200, { changes: page.changes, next_cursor: next });
}

function encodeCursor(p: FeedPosition): string {
  return Buffer.from(`${p.updatedMs}:${p.seq}`).toString('base64url');
}

function decodeCursor(text: string): FeedPosition | undefined {
  const m = /^(\d{1,16}):(\d{1,9})$/.exec(Buffer.from(text, 'base64url').toString('utf8'));
  return m ? { updatedMs: Number(m[1]), seq: Number(m[2]) } : undefined;
}

export function listUpdated(store: CandidateStore, feed: ResolvedFeedOptions, ctx: Ctx): Reply {
  const q = ctx.query;
  const param = feed.updatedAfterParam;
  let after: number | undefined;
  if (q[param] !== undefined) {
    after = parseTime(q[param], feed.timeFormat);
    if (after === undefined) return error(400, 'invalid_parameter', { parameter: param, message: `must be ${describeTimeFormat(feed.timeFormat)}` });
  }
  let from: FeedPosition | undefined;
  if (feed.pagination === 'cursor' && q.cursor !== undefined) {
    from = decodeCursor(q.cursor);
    if (!from) return error(400, 'invalid_parameter', { parameter: 'cursor', message: 'is not a cursor this server issued' });
  }
  const rows = store.updatedSince(after, feed.updatedAfterInclusive, from);
  const item = ({ c }: (typeof rows)[number]): Record<string, unknown> => ({
    id: c.id,
    external_id: externalOf(c),
    status: c.status,
    updated_at: formatTime(Date.parse(c.updatedAt), feed.timeFormat),
  });
  const size = feed.pageSize;
  const totalPages = Math.ceil(rows.length / size);

  switch (feed.pagination) {
    case 'page':
    case 'next-link': {
      const page = intParam(q, 'page', 1, 1);
      if ('reply' in page) return page.reply;
      const items = rows.slice((page.value - 1) * size, page.value * size).map(item);
      if (feed.pagination === 'page') return json(200, { items, page: page.value, page_size: size, total: rows.length, total_pages: totalPages });
      return json(200, { items, next: page.value < totalPages ? nextLink(ctx, page.value + 1) : null });
    }
    case 'offset': {
      const offset = intParam(q, 'offset', 0, 0);
      if ('reply' in offset) return offset.reply;
      const asked = intParam(q, 'limit', 1, size);
      if ('reply' in asked) return asked.reply;
      const limit = Math.min(asked.value, size);
      return json(200, { items: rows.slice(offset.value, offset.value + limit).map(item), offset: offset.value, limit, total: rows.length });
    }
    case 'cursor': {
      const page = rows.slice(0, size);
      const last = page[page.length - 1];
      return json(200, { items: page.map(item), next_cursor: rows.length > size && last ? encodeCursor(last.pos) : null });
    }
  }
}

/** The same request with the next page number, absolute, built from the Host the client used. */
function nextLink(ctx: Ctx, page: number): string {
  const params = new URLSearchParams(ctx.query);
  params.set('page', String(page));
  return `http://${firstHeader(ctx.headers, 'host') ?? '127.0.0.1'}${ctx.path}?${params.toString()}`;
}
