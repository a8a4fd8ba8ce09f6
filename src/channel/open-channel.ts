import type { ClientConfig } from '../config/client-schema';
import { CrmChannel, type ChannelDeps, type ChannelListener } from './channel';

/**
 * The one factory of client channels. Delivery, the status poller, the capacity probe and the CLI's
 * CRM commands all come through here, so each gets the same adapter context, limiter and circuit —
 * and a new purpose cannot quietly build a second, unthrottled way to a CRM.
 */
export function openChannel(config: ClientConfig, deps: ChannelDeps, listener?: ChannelListener): CrmChannel {
  const channel = new CrmChannel(config, deps);
  if (listener) channel.subscribe(listener);
  return channel;
}

export type { ChannelDeps, ChannelListener, CrmChannel, PushResult } from './channel';
