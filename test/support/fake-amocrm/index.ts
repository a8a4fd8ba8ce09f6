/**
 * A faithful fake amoCRM (API v4 + OAuth) on a real node:http server, for the adapter's tests, the
 * demo and the benchmarks. What it imitates and why is in /work/shared/reference/amocrm-api.md §14.
 */
import { FakeAmoServer } from './server';
import type { FakeAmo, FakeAmoOptions } from './types';

export type * from './types';

export async function startFakeAmo(opts: FakeAmoOptions = {}): Promise<FakeAmo> {
  const fake = new FakeAmoServer(opts);
  await fake.up();
  return fake;
}
