/**
 * What is sent for one outcome, in each format: the one-line summary a person reads in chat,
 * and the request that carries it.
 */
import type {Outcome} from 'parako';

import type {NotifySettings} from './provides.js';

/** One HTTP request, ready to send. */
export interface Delivery {
  method: 'POST' | 'PUT';
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The operation as the notification names it. */
export interface Notice {
  app: string;
  host: string;
  operation: 'update' | 'rollback';
  outcome: Outcome;
}

/** The secrets the settings point at, read: the URL, and Matrix's access token. */
export interface Secrets {
  url: string;
  accessToken?: string;
}

/** `demo-app on web-1: updated v1.0.0 -> v1.1.0 (exit 0): updated v1.0.0 -> v1.1.0` */
export function summaryOf({app, host, outcome}: Notice): string {
  const version = (value: string | null): string => (value === null ? '(none)' : `v${value}`);
  return `${app} on ${host}: ${outcome.outcome} ${version(outcome.from)} -> ${version(outcome.to)} (exit ${outcome.code}): ${outcome.message}`;
}

/**
 * `txnId` makes a Matrix send idempotent: a retry after a lost answer is not posted twice.
 * It must be the same for every attempt of one notification.
 */
export function deliveryFor(settings: NotifySettings, secrets: Secrets, notice: Notice, txnId: string): Delivery {
  const text = summaryOf(notice);
  const json = {'content-type': 'application/json'};
  switch (settings.format) {
    case 'slack':
      return {method: 'POST', url: secrets.url, headers: json, body: JSON.stringify({text})};
    case 'matrix': {
      const homeserver = secrets.url.replace(/\/+$/, '');
      const path = `/_matrix/client/v3/rooms/${encodeURIComponent(settings.room ?? '')}/send/m.room.message/${encodeURIComponent(txnId)}`;
      return {method: 'PUT', url: `${homeserver}${path}`, headers: {...json, authorization: `Bearer ${secrets.accessToken ?? ''}`}, body: JSON.stringify({msgtype: 'm.text', body: text})};
    }
    case 'json':
      return {method: 'POST', url: secrets.url, headers: json, body: JSON.stringify({text, app: notice.app, host: notice.host, operation: notice.operation, ...notice.outcome})};
  }
}

/** How a request is named in messages: the method and the origin only, since a webhook's path carries its token. */
export function describeTarget(delivery: Pick<Delivery, 'method' | 'url'>): string {
  return `${delivery.method} ${new URL(delivery.url).origin}/…`;
}
