import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { ConfigError } from '../config/parse.js';
import { isPrivateAddress } from '../webhooks/targets.js';

/**
 * Where an adapter may connect. A client names the endpoint, so a node that
 * connected anywhere would let any client reach into the node's own network
 * (SSRF): loopback, private and link-local addresses (the webhooks' list)
 * are refused, in the URL and in DNS answers at connect time (so a name
 * that later resolves to a private address is refused too), unless the
 * operator allows them all (ADAPTER_ALLOW_PRIVATE_ENDPOINTS, the default in
 * development) or lists networks (ADAPTER_PRIVATE_NETWORKS, CIDRs).
 */
export class EndpointPolicy {
  private constructor(
    readonly allowAllPrivate: boolean,
    private readonly listed: BlockList,
    readonly listedNetworks: readonly string[],
  ) {}

  /** `networks`: CIDRs such as 10.1.0.0/16 or fd00::/8 (a bare address is one host). */
  static create(allowAllPrivate: boolean, networks: readonly string[]): EndpointPolicy {
    const listed = new BlockList();
    for (const network of networks) {
      const [address, prefixText] = network.split('/') as [string, string | undefined];
      const family = isIP(address);
      const prefix = prefixText === undefined ? (family === 6 ? 128 : 32) : Number(prefixText);
      if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
        throw new ConfigError(`ADAPTER_PRIVATE_NETWORKS: ${network} is not an address or CIDR network`);
      }
      listed.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
    }
    return new EndpointPolicy(allowAllPrivate, listed, networks);
  }

  /** Whether the node may connect to this address. */
  allows(address: string): boolean {
    if (this.allowAllPrivate || !isPrivateAddress(address)) return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    return mapped ? this.listed.check(mapped, 'ipv4') : this.listed.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
  }

  /** Whether a URL's host is refused before any lookup: a private address literal, or localhost unless loopback is allowed. */
  refusesLiteral(url: URL): boolean {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(host)) return !this.allows(host);
    const name = host.toLowerCase().replace(/\.$/, '');
    return (name === 'localhost' || name.endsWith('.localhost')) && !this.allows('127.0.0.1');
  }

  /** The socket's DNS lookup, without the addresses this policy refuses (undefined: any address goes). */
  get lookup(): LookupFunction | undefined {
    if (this.allowAllPrivate) return undefined;
    return (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
        if (error) return callback(error, '', 0);
        const allowed = addresses.filter((entry) => this.allows(entry.address));
        if (allowed.length === 0) {
          return callback(Object.assign(new Error(`${hostname} resolves to a loopback, private or link-local address`), { code: 'EPRIVATETARGET' }), '', 0);
        }
        if (options.all) (callback as unknown as (error: null, addresses: LookupAddress[]) => void)(null, allowed);
        else callback(null, allowed[0]!.address, allowed[0]!.family);
      });
    };
  }
}
