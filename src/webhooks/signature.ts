import { createHmac, timingSafeEqual } from 'node:crypto';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (docs/webhooks.md). */
export const SIGNATURE_HEADER = 'switchyard-signature';
export const EVENT_ID_HEADER = 'switchyard-event-id';
export const EVENT_TYPE_HEADER = 'switchyard-event-type';
export const ATTEMPT_HEADER = 'switchyard-delivery-attempt';

/** What a receiver should accept between the signature's timestamp and its own clock, by default. */
export const DEFAULT_TOLERANCE_S = 300;

/**
 * The label the derived signing secret is made with. Derived, so that an app
 * needs no second secret to configure; a key of its own, so that a receiver
 * that only checks webhooks never holds the app secret, which drives sessions.
 */
const DERIVATION_LABEL = 'switchyard webhook signing key';

/** The signing secret of an endpoint configured without one: hex HMAC-SHA256(app secret, label). */
export function derivedWebhookSecret(appSecret: string): string {
  return createHmac('sha256', appSecret).update(DERIVATION_LABEL).digest('hex');
}

const mac = (secret: string, timestamp: number, body: string) => createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');

/**
 * The header value for one attempt. The timestamp is the attempt's, not the
 * event's: a retry an hour later is still fresh to a receiver that refuses
 * old timestamps (the event id, not the signature, deduplicates).
 */
export function signatureHeader(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${mac(secret, timestamp, body)}`;
}

/**
 * The receiver's check, as docs/webhooks.md shows it: one of the v1 values
 * matches (constant-time), and the timestamp is within `toleranceS` of now.
 */
export function verifyWebhookSignature(secret: string, header: string | undefined, body: string, toleranceS = DEFAULT_TOLERANCE_S, nowS = Date.now() / 1000): boolean {
  if (!header) return false;
  const parts = header.split(',').map((part) => part.trim().split('='));
  const timestamp = Number(parts.find(([key]) => key === 't')?.[1]);
  if (!Number.isInteger(timestamp) || Math.abs(nowS - timestamp) > toleranceS) return false;
  const expected = Buffer.from(mac(secret, timestamp, body), 'hex');
  return parts.some(([key, value]) => {
    if (key !== 'v1' || !value || !/^[0-9a-f]{64}$/.test(value)) return false;
    return timingSafeEqual(Buffer.from(value, 'hex'), expected);
  });
}
