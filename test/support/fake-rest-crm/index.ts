/**
 * A fake "home-made REST CRM" on loopback for the generic REST adapter's tests, demo and benchmarks.
 * It behaves like the servers clients actually run, quirks included, not like our code expects.
 * routes.ts lists the endpoints (routes-*.ts hold them), server.ts the request pipeline (latency,
 * rate limit, faults), types.ts the options and the fault catalogue, cli.ts runs it on its own.
 */
import { FakeRestCrmServer } from './server';
import type { FakeRestCrm, FakeRestCrmOptions } from './types';

export type {
  FakeRestCrm,
  FakeRestCrmAuth,
  FakeRestCrmOptions,
  FakeRestCrmRateLimit,
  FakeRestCrmStats,
  FaultMatch,
  FeedPagination,
  OpenSession,
  TimeFormat,
  UpdatedFeedOptions,
  FaultSpec,
  InjectFaultOptions,
  RecordedRequest,
  StoredCandidate,
} from './types';

/** Starts listening on 127.0.0.1 (port 0 unless given) and resolves once connections are accepted. */
export async function startFakeRestCrm(opts: FakeRestCrmOptions = {}): Promise<FakeRestCrm> {
  const crm = new FakeRestCrmServer(opts);
  await crm.up();
  return crm;
}
