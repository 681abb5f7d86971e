import type { Switchyard } from '../../src/app.js';

export interface LinkRow {
  /** Index of the node that feeds the track. */
  from: number;
  to: number;
  fromRegion: string;
  toRegion: string;
  depth: number;
}

export const regionOf = (i: number, regions: readonly string[]) => regions[i] ?? 'default';

/**
 * The links of every track between in-process nodes (each node's inbound
 * pipes and who feeds them), as rows and as a printed table.
 */
export function linkTable(nodes: readonly Switchyard[], regions: readonly string[]): { rows: LinkRow[]; text: string } {
  const index = new Map(nodes.map((n, i) => [n.shared.cluster!.nodeId, i]));
  const rows: LinkRow[] = [];
  nodes.forEach((node, to) => {
    if (!node.pipes) return;
    for (const link of node.pipes.remote.links()) {
      const from = index.get(link.parentId) ?? -1;
      rows.push({ from, to, fromRegion: regionOf(from, regions), toRegion: regionOf(to, regions), depth: link.depth });
    }
  });
  rows.sort((a, b) => a.depth - b.depth || a.to - b.to);
  const name = (i: number) => (i < 0 ? '?' : `${String.fromCharCode(65 + i)}(${regionOf(i, regions)})`);
  const text = ['from      -> to        depth', ...rows.map((r) => `${name(r.from).padEnd(9)} -> ${name(r.to).padEnd(9)} ${r.depth}`)].join('\n');
  return { rows, text };
}
