/**
 * A fake HRDrom core on loopback: the receiving side of the progress write-back contract
 * (docs/progress-contract.md), for tests. routes.ts holds the endpoints and
 * the contract's checks, ledger.ts what was recorded, faults.ts the fault catalogue, server.ts the
 * sockets and lifecycle, types.ts the options and shapes.
 */
import { FakeHrdromServer } from './server';
import type { FakeHrdrom, FakeHrdromOptions } from './types';

export type {
  ContentDuplicate,
  FakeHrdrom,
  FakeHrdromOptions,
  FakeHrdromStats,
  FaultMatch,
  FaultSpec,
  InjectFaultOptions,
  ReceivedEvent,
  RecordedRequest,
  RejectPredicate,
  ServerErrorStatus,
} from './types';

/** Starts listening on 127.0.0.1 (port 0 unless given) and resolves once connections are accepted. */
export async function startFakeHrdrom(opts: FakeHrdromOptions): Promise<FakeHrdrom> {
  const hrdrom = new FakeHrdromServer(opts);
  await hrdrom.up();
  return hrdrom;
}
