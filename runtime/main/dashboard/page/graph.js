// The application graph as SVG: each routed application's HTTP route, its ingress deployment
// and the deployments it calls (the handles bound into constructors), laid out left to right
// by call depth. A node shows its replicas running out of those asked for and its calls/s;
// its border says whether every replica runs.
import { h, fill } from './dom.js';
import { rate } from './format.js';

const COL_W = 230;
const ROW_H = 78;
const NODE_W = 180;
const NODE_H = 54;
const PAD = 12;

/** Columns by the longest call path from an application's entry; route nodes in column 0. */
function layout(status) {
  const byName = new Map(status.deployments.map((d) => [d.name, d]));
  const depth = new Map();
  const visit = (name, d) => {
    if ((depth.get(name) ?? -1) >= d || !byName.has(name)) return;
    depth.set(name, d);
    for (const callee of byName.get(name).calls) visit(callee, d + 1);
  };
  const routes = status.applications.filter((a) => a.route !== null);
  for (const a of status.applications) visit(a.ingress, 1);
  for (const d of status.deployments) if (!depth.has(d.name)) visit(d.name, 1);
  const columns = [routes.map((a) => ({ kind: 'route', id: `route:${a.name}`, app: a }))];
  for (const [name, d] of depth) (columns[d] ??= []).push({ kind: 'deployment', id: name, deployment: byName.get(name) });
  const pos = new Map();
  columns.forEach((col, c) => col.forEach((node, r) => pos.set(node.id, { x: PAD + c * COL_W, y: PAD + r * ROW_H, node })));
  const edges = [];
  for (const a of routes) edges.push([`route:${a.name}`, a.ingress]);
  for (const d of status.deployments) for (const callee of d.calls) edges.push([d.name, callee]);
  const rows = Math.max(1, ...columns.map((c) => c.length));
  return { pos, edges, width: PAD * 2 + (columns.length - 1) * COL_W + NODE_W, height: PAD * 2 + (rows - 1) * ROW_H + NODE_H };
}

function health(d) {
  const running = d.replicas.filter((r) => r.state === 'running').length;
  if (running >= d.numReplicas) return 'ok';
  return running === 0 ? 'down' : 'degraded';
}

function nodeBox({ x, y, node }, sample) {
  if (node.kind === 'route') {
    return h(
      'g',
      { class: 'node route', transform: `translate(${x},${y})` },
      h('rect', { width: NODE_W, height: NODE_H, rx: 27 }),
      h('text', { x: NODE_W / 2, y: 23, 'text-anchor': 'middle', class: 'title' }, `POST ${node.app.route}`),
      h('text', { x: NODE_W / 2, y: 41, 'text-anchor': 'middle', class: 'sub' }, `application ${node.app.name}`),
    );
  }
  const d = node.deployment;
  const running = d.replicas.filter((r) => r.state === 'running').length;
  const s = sample?.deployments[d.name];
  return h(
    'g',
    { class: `node deployment ${health(d)}`, transform: `translate(${x},${y})`, 'data-deployment': d.name },
    h('title', {}, `${d.name}: ${running} of ${d.numReplicas} replicas running`),
    h('rect', { width: NODE_W, height: NODE_H, rx: 6 }),
    h('text', { x: 10, y: 21, class: 'title' }, d.name),
    h('text', { x: 10, y: 41, class: 'sub' }, `${running}/${d.numReplicas} replicas · ${rate(s?.rps ?? 0)} calls/s`),
  );
}

function edgePath(from, to) {
  const x1 = from.x + NODE_W;
  const y1 = from.y + NODE_H / 2;
  const x2 = to.x - 4;
  const y2 = to.y + NODE_H / 2;
  const mid = (x1 + x2) / 2;
  return `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
}

/** Draws the graph of `status` into `el`, with the calls/s of the latest sample. */
export function renderGraph(el, status, sample) {
  const { pos, edges, width, height } = layout(status);
  const svg = h(
    'svg',
    { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'application graph' },
    h(
      'defs',
      {},
      h(
        'marker',
        { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto' },
        h('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }),
      ),
    ),
    edges
      .filter(([a, b]) => pos.has(a) && pos.has(b))
      .map(([a, b]) => h('path', { class: 'edge', d: edgePath(pos.get(a), pos.get(b)), 'marker-end': 'url(#arrow)' })),
    [...pos.values()].map((p) => nodeBox(p, sample)),
  );
  const captions = status.applications.map((a) => h('p', { class: 'caption' }, caption(a, status)));
  fill(el, svg, captions);
}

/** "grouped" when the ingress does everything itself, else how many deployments it spans. */
function caption(app, status) {
  const byName = new Map(status.deployments.map((d) => [d.name, d]));
  const reach = new Set();
  const walk = (n) => {
    if (reach.has(n) || !byName.has(n)) return;
    reach.add(n);
    for (const c of byName.get(n).calls) walk(c);
  };
  walk(app.ingress);
  const entry = app.route === null ? 'no HTTP route (handles only)' : `POST ${app.route}`;
  const shape = reach.size === 1 ? 'grouped: one deployment does every step' : `separated into ${reach.size} deployments`;
  return `Application ${app.name} (${entry}, ingress ${app.ingress}): ${shape}.`;
}
