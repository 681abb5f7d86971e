import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Switchyard } from '../../src/app.js';
import { gql } from '../helpers/graphql.js';
import { scrape, type Scrape } from '../helpers/metrics.js';
import { startTestServer } from '../helpers/server.js';

/**
 * docs/grafana/switchyard-dashboard.json against a real node's /metrics:
 * every metric a panel (or the instance variable) queries is one the node
 * declares, every label matcher names a label the metric carries, and every
 * panel is wired to the `datasource` and `instance` variables.
 */
const DASHBOARD = new URL('../../docs/grafana/switchyard-dashboard.json', import.meta.url);
const DATASOURCE = '${datasource}';
const INSTANCE = 'instance=~"$instance"';
/** Labels Prometheus adds when it scrapes (not in the exposition). */
const TARGET_LABELS = new Set(['instance', 'job']);
const HISTOGRAM_SERIES = ['_bucket', '_sum', '_count'];
const SUMMARY_SERIES = ['_sum', '_count'];

interface Target {
  expr?: string;
  refId?: string;
  datasource?: unknown;
}
interface Panel {
  id?: number;
  type?: string;
  title?: string;
  description?: string;
  datasource?: unknown;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query?: string };
  datasource?: unknown;
}
interface Dashboard {
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

/** Every panel, rows and the panels inside collapsed rows included. */
function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

/** `${datasource}` as a string, or `{ uid: '${datasource}' }` as Grafana writes it. */
function datasourceOf(value: unknown): unknown {
  return typeof value === 'object' && value !== null ? (value as { uid?: unknown }).uid : value;
}

/** `switchyard_…` metric references in a PromQL expression, with their `{…}` selector when there is one. */
function selectors(expr: string): { name: string; matchers: string | undefined }[] {
  return [...expr.matchAll(/\b(switchyard_[A-Za-z0-9_:]*)\s*(?:\{([^}]*)\})?/g)].map((m) => ({ name: m[1] as string, matchers: m[2] }));
}

/** The series name of each exposed sample -> the label names seen on it. */
function sampleLabels(scraped: Scrape): Map<string, Set<string>> {
  const labels = new Map<string, Set<string>>();
  for (const key of scraped.keys()) {
    const match = /^([^{]+)(?:\{(.*)\})?$/.exec(key);
    if (!match) continue;
    const names = labels.get(match[1] as string) ?? new Set<string>();
    for (const m of (match[2] ?? '').matchAll(/(\w+)="/g)) names.add(m[1] as string);
    labels.set(match[1] as string, names);
  }
  return labels;
}

describe('the Grafana dashboard queries what /metrics exposes', () => {
  let server: Switchyard;
  let dashboard: Dashboard;
  /** `# TYPE name type` of the scrape. */
  const declared = new Map<string, string>();
  let exposed: Map<string, Set<string>>;

  beforeAll(async () => {
    server = await startTestServer({ WORKERS: '1' });
    // One refused call, so the API histogram has series (an OK and a non-OK code are both fine).
    await gql(server.url, 'mutation { closeSession(input: { sessionId: "no-such-session" }) { sessionId } }');
    const url = `${server.url}/metrics`;
    const response = await fetch(url);
    expect(response.status).toBe(200);
    for (const line of (await response.text()).split('\n')) {
      const match = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (match) declared.set(match[1] as string, match[2] as string);
    }
    exposed = sampleLabels(await scrape(url));
    dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;
  });
  afterAll(async () => {
    await server?.stop();
  });

  /** The metric a series name belongs to, or undefined when /metrics has no such series. */
  function metricOf(series: string): string | undefined {
    const type = declared.get(series);
    // A histogram or summary is queried through its suffixed series only (a summary's quantiles excepted).
    if (type !== undefined && type !== 'histogram') return series;
    for (const suffix of HISTOGRAM_SERIES) {
      if (!series.endsWith(suffix)) continue;
      const base = series.slice(0, -suffix.length);
      const baseType = declared.get(base);
      if (baseType === 'histogram' || (baseType === 'summary' && SUMMARY_SERIES.includes(suffix))) return base;
    }
    return undefined;
  }

  /** Every PromQL expression of the dashboard, where it is. */
  function expressions(): { where: string; expr: string }[] {
    const found: { where: string; expr: string }[] = [];
    for (const panel of allPanels(dashboard.panels)) {
      for (const target of panel.targets ?? []) {
        if (target.expr) found.push({ where: `panel "${panel.title}" target ${target.refId}`, expr: target.expr });
      }
    }
    for (const variable of dashboard.templating.list) {
      const query = typeof variable.query === 'object' ? variable.query.query : variable.query;
      if (variable.type === 'query' && query) found.push({ where: `variable ${variable.name}`, expr: query });
    }
    return found;
  }

  it('the scrape is read right: every exposed series belongs to a declared metric', () => {
    expect(declared.get('switchyard_sessions')).toBe('gauge');
    expect(declared.get('switchyard_api_request_duration_seconds')).toBe('histogram');
    expect(exposed.has('switchyard_api_request_duration_seconds_bucket')).toBe(true);
    for (const series of exposed.keys()) expect(metricOf(series), series).toBeDefined();
  });

  it('every metric a panel or variable queries exists on a real node', () => {
    const used = new Set<string>();
    const missing: string[] = [];
    for (const { where, expr } of expressions()) {
      for (const { name } of selectors(expr)) {
        used.add(name);
        if (metricOf(name) === undefined) missing.push(`${where}: ${name}`);
      }
    }
    expect(missing, `not on /metrics:\n${missing.join('\n')}`).toEqual([]);
    // The dashboard covers the node's own metrics, not only the Node.js defaults.
    expect(used.size).toBeGreaterThan(25);
  });

  it('label matchers name labels the metric carries (for metrics with series in an idle node)', () => {
    const wrong: string[] = [];
    for (const { where, expr } of expressions()) {
      for (const { name, matchers } of selectors(expr)) {
        const carried = exposed.get(name);
        if (!matchers || !carried) continue;
        for (const m of matchers.matchAll(/(\w+)\s*(?:=~|!~|!=|=)\s*"/g)) {
          const label = m[1] as string;
          if (!TARGET_LABELS.has(label) && !carried.has(label)) wrong.push(`${where}: ${name}{${label}}`);
        }
      }
    }
    expect(wrong, `labels the metric does not carry:\n${wrong.join('\n')}`).toEqual([]);
  });

  it('every panel has a title, the datasource variable and targets filtered by instance; ids are unique', () => {
    expect(dashboard.schemaVersion).toBe(39);
    const panels = allPanels(dashboard.panels);
    expect(panels.length).toBeGreaterThan(20);
    const ids = panels.map((panel) => panel.id);
    expect(ids.every((id) => typeof id === 'number')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of panels) {
      expect(panel.title, `panel ${panel.id}`).toBeTruthy();
      if (panel.type === 'row') continue;
      expect(panel.description, `panel "${panel.title}" description`).toBeTruthy();
      expect(datasourceOf(panel.datasource), `panel "${panel.title}" datasource`).toBe(DATASOURCE);
      expect(panel.targets?.length, `panel "${panel.title}" targets`).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        const where = `panel "${panel.title}" target ${target.refId}`;
        if (target.datasource !== undefined) expect(datasourceOf(target.datasource), where).toBe(DATASOURCE);
        expect(target.expr, where).toBeTruthy();
        const used = selectors(target.expr ?? '');
        expect(used.length, `${where} queries no switchyard_ metric`).toBeGreaterThan(0);
        for (const { name, matchers } of used) expect(matchers ?? '', `${where}: ${name} is not filtered by instance`).toContain(INSTANCE);
      }
    }
  });

  it('has the datasource and instance variables', () => {
    const byName = new Map(dashboard.templating.list.map((variable) => [variable.name, variable]));
    const datasource = byName.get('datasource');
    expect(datasource?.type).toBe('datasource');
    expect(datasource?.query).toBe('prometheus');
    const instance = byName.get('instance');
    expect(instance?.type).toBe('query');
    expect(datasourceOf(instance?.datasource)).toBe(DATASOURCE);
    const query = typeof instance?.query === 'object' ? instance.query.query : instance?.query;
    expect(query).toBe('label_values(switchyard_sessions, instance)');
  });
});
