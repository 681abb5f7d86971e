import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/**
 * Where a webhook may not go unless the operator allows it
 * (WEBHOOK_ALLOW_PRIVATE_URLS): loopback, private, link-local (cloud
 * metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved and
 * documentation ranges. A webhook URL is operator configuration, but the
 * node posting wherever it is told is how a typo or a compromised APPS_FILE
 * becomes a request into the node's own network (SSRF).
 */
const BLOCKED = new BlockList();
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [
  // ::, ::1 and the deprecated IPv4-compatible addresses.
  ['::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001:db8::', 32],
  // 6to4 embeds an IPv4 address, private ones included.
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  BLOCKED.addSubnet(network, prefix, 'ipv6');
}

/** Whether an IP address is one a webhook may not reach by default (IPv4-mapped IPv6 addresses count as their IPv4). */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return BLOCKED.check(mapped[1] as string, 'ipv4');
  return BLOCKED.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** A URL's host as an address when it is one (brackets off IPv6). */
const literalAddress = (url: URL): string | undefined => {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) ? host : undefined;
};

/** Whether the URL names a private target without DNS: an address in a blocked range, or localhost. */
export function isPrivateLiteral(url: URL): boolean {
  const address = literalAddress(url);
  if (address) return isPrivateAddress(address);
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  return host === 'localhost' || host.endsWith('.localhost');
}

export class PrivateTargetError extends Error {
  readonly code = 'EPRIVATETARGET';
}

const refusal = (host: string) =>
  new PrivateTargetError(`${host} is a loopback, private or link-local address; set WEBHOOK_ALLOW_PRIVATE_URLS=true to post there (docs/security.md)`);

/**
 * The DNS lookup the socket connects with, which drops blocked addresses:
 * checked at connect time, on the very addresses connected to, so a name
 * that resolves to a public address when configured and to a private one
 * later (DNS rebinding) is refused too. Addresses in the URL itself never go
 * through a lookup: checkLiteral covers them.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
    if (error) {
      callback(error, '', 0);
      return;
    }
    const allowed = addresses.filter((entry) => !isPrivateAddress(entry.address));
    if (allowed.length === 0) {
      callback(Object.assign(refusal(hostname), { errno: undefined }), '', 0);
      return;
    }
    if (options.all) (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, allowed);
    else callback(null, (allowed[0] as LookupAddress).address, (allowed[0] as LookupAddress).family);
  });
};

/** Refuses a URL whose host is a blocked address literal (the connection would not look it up). */
export function checkLiteral(url: URL): void {
  const address = literalAddress(url);
  if (address && isPrivateAddress(address)) throw refusal(address);
}
