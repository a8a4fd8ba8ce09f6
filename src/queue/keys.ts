/**
 * Every Redis key and queue name lead-export uses is built here, and only here: the layout below is
 * the whole of what lead-export keeps in Redis.
 *
 * Layout (P = QUEUE_PREFIX, default `le`; C = client id):
 *   P:{C}-deliver:*             BullMQ delivery queue of client C (BullMQ adds its own suffixes)
 *   P:{C}:seen:<leadId>         the lead was accepted once (intake idempotency; TTL IDEMPOTENCY_TTL_DAYS)
 *   P:{C}:delivered:<leadId>    the lead is in the CRM; value = CRM id (worker idempotency; same TTL)
 *   P:{C}:inflight:<leadId>     a create request for the lead is on the wire (crash ⇒ outcome unknown)
 *   P:{C}:replacing:<leadId>    intake is replacing the lead's failed job with a corrected lead (short lock)
 *   P:{C}:flow:rl:log           rate limiter: sliding-window log of admitted requests (ZSET)
 *   P:{C}:flow:rl:hold          rate limiter: a Retry-After hold for every process (STRING with PX)
 *   P:{C}:flow:rl:adaptive      rate limiter: the effective limit lowered by 429s (HASH)
 *   P:{C}:flow:rl:poll          rate limiter: log of poll requests, for the polls' share of the budget
 *   P:{C}:flow:circuit          circuit breaker state (HASH)
 *   P:{C}:store:<name>          adapter storage, encrypted (e.g. OAuth tokens)
 *   P:{C}:store-lock:<name>     cross-process locks of adapter storage (e.g. one token refresh at a time)
 *   P:clients                   hash: client id → adapter kind, of the clients the service knows
 *
 * The `{C}` hash tag keeps all of one client's keys — queue included — in one Redis Cluster slot,
 * so Lua scripts and MULTI work on Cluster, while different clients spread across the slots.
 */

/** The keys of one client's flow control (src/flow). */
export interface FlowKeys {
  rateLog: string;
  rateHold: string;
  rateAdaptive: string;
  pollLog: string;
  circuit: string;
}

/** The keys of one client's adapter storage (src/channel/redis-store.ts). */
export interface StoreKeys {
  value(name: string): string;
  lock(name: string): string;
}

export class Keys {
  constructor(readonly prefix: string) {}

  /** BullMQ queue name (used with `prefix`): the hash tag makes BullMQ's keys `P:{C}-deliver:...`. */
  deliveryQueue(clientId: string): string {
    return `{${clientId}}-deliver`;
  }

  private client(clientId: string): string {
    return `${this.prefix}:{${clientId}}`;
  }

  /** The pattern that matches every key of one client except its BullMQ queues. */
  clientPattern(clientId: string): string {
    return `${this.client(clientId)}:*`;
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

  flow(clientId: string): FlowKeys {
    const c = this.client(clientId);
    return {
      rateLog: `${c}:flow:rl:log`,
      rateHold: `${c}:flow:rl:hold`,
      rateAdaptive: `${c}:flow:rl:adaptive`,
      pollLog: `${c}:flow:rl:poll`,
      circuit: `${c}:flow:circuit`,
    };
  }

  store(clientId: string): StoreKeys {
    const c = this.client(clientId);
    return {
      value: (name) => `${c}:store:${name}`,
      lock: (name) => `${c}:store-lock:${name}`,
    };
  }

  knownClients(): string {
    return `${this.prefix}:clients`;
  }
}
