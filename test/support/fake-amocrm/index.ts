/**
 * A faithful fake amoCRM (API v4 + OAuth) on a real node:http server, for the adapter's tests, the
 * demo and the benchmarks. It behaves like the real server, not like our code expects: PHP query
 * parsing, idle-connection closes and resets, an events feed in no particular order, webhooks,
 * gateway faults. What it does is in docs/fake-amocrm.md; the module map:
 * server.ts (state and controls) → request-pipeline.ts (one request) → router.ts → catalog, leads,
 * lead-query, contacts, events, oauth; php-query.ts, connections.ts, respond.ts, faults.ts, webhooks.ts.
 */
import { FakeAmoServer } from './server';
import type { FakeAmo, FakeAmoOptions } from './types';

export type * from './types';

export async function startFakeAmo(opts: FakeAmoOptions = {}): Promise<FakeAmo> {
  const fake = new FakeAmoServer(opts);
  await fake.up();
  return fake;
}
