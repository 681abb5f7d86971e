/** One Prometheus scrape, read as `name{label="value",…}` -> value (labels in the order prom-client writes them). */
export type Scrape = Map<string, number>;

export async function scrape(url: string, token?: string): Promise<Scrape> {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status}`);
  const samples: Scrape = new Map();
  for (const line of (await response.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^(\S+?(?:\{.*\})?) (\S+)$/.exec(line);
    if (match) samples.set(match[1] as string, Number(match[2]));
  }
  return samples;
}

/** The value of one series (0 when absent); labels as an object. */
export function sample(scraped: Scrape, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels);
  for (const [key, value] of scraped) {
    const match = /^([^{]+)(?:\{(.*)\})?$/.exec(key);
    if (!match || match[1] !== name) continue;
    const have = new Map([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (have.size === wanted.length && wanted.every(([k, v]) => have.get(k) === v)) return value;
  }
  return 0;
}
