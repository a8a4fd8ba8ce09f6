/**
 * Every Redis key and queue name lead-export uses is built here, and only here.
 *
 * Layout (P = QUEUE_PREFIX, default `le`; C = client id):
 *   P:{C}-deliver:*          BullMQ delivery queue of client C (BullMQ adds its own suffixes)
 *   P:{C}:seen:<leadId>      the lead was accepted once (intake idempotency; TTL IDEMPOTENCY_TTL_DAYS)
 *   P:{C}:delivered:<leadId> the lead is in the CRM; value = CRM id (worker idempotency; same TTL)
 *   P:{C}:inflight:<leadId>  a create request for the lead is on the wire (crash ⇒ outcome unknown)
 *   P:{C}:replacing:<leadId> intake is replacing the lead's failed job with a corrected lead (short lock)
 *   P:{C}:flow:*             rate limiter, adaptive limit and circuit breaker state (src/flow)
 *   P:{C}:store:*            adapter storage (e.g. amoCRM tokens, encrypted)
 *   P:clients                hash: client id → adapter kind, of the clients the service knows
 *
 * The `{C}` hash tag keeps all of one client's keys — queue included — in one Redis Cluster slot,
 * so Lua scripts and MULTI work on Cluster, while different clients spread across the slots.
 */
export class Keys {
  constructor(readonly prefix: string) {}

  /** BullMQ queue name (used with `prefix`): the hash tag makes BullMQ's keys `P:{C}-deliver:...`. */
  deliveryQueue(clientId: string): string {
    return `{${clientId}}-deliver`;
  }

  client(clientId: string): string {
    return `${this.prefix}:{${clientId}}`;
  }

  seen(clientId: string, leadId: string): string {
    return `${this.client(clientId)}:seen:${leadId}`;
  }

  delivered(clientId: string, leadId: string): string {
    return `${this.client(clientId)}:delivered:${leadId}`;
  }

  inflight(clientId: string, leadId: string): string {
    return `${this.client(clientId)}:inflight:${leadId}`;
  }

  replacing(clientId: string, leadId: string): string {
    return `${this.client(clientId)}:replacing:${leadId}`;
  }

  /** Prefix for src/flow's keys, which add their own `:flow:` segment (`P:{C}:flow:rl:log`, `P:{C}:flow:circuit`). */
  flow(clientId: string): string {
    return this.client(clientId);
  }

  store(clientId: string): string {
    return `${this.client(clientId)}:store`;
  }

  knownClients(): string {
    return `${this.prefix}:clients`;
  }
}
