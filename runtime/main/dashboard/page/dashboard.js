// The dashboard page: opens the event stream, keeps the latest status, sample and totals,
// and redraws the graph, the HTTP figures, the charts and the deployment cards on each event.
// The first event (`init`) carries the last minutes of samples; later ones one sample each.
// EventSource reconnects by itself after a restart; a new `init` then replaces the history.
import { ChartBoard } from './charts.js';
import { renderDeployments, renderHttp } from './deployments.js';
import { since } from './format.js';
import { renderGraph } from './graph.js';

const $ = (id) => document.getElementById(id);
const board = new ChartBoard($('charts'), 300);
let status;
let totals;
let latest;
let server;

/** Deployments that ran batches: they get a batch-size chart. */
const batchedOf = (t) =>
  new Set(
    Object.entries(t?.deployments ?? {})
      .filter(([, x]) => x.batches > 0)
      .map(([name]) => name),
  );

function render() {
  const replicas = status.deployments.reduce((n, d) => n + d.replicas.length, 0);
  $('summary').textContent =
    `v${server.version} · pid ${server.pid} · up ${since(server.startedAt)} · ${status.applications.length} application(s) · ${status.deployments.length} deployment(s) · ${replicas} replica(s)`;
  renderGraph($('graph'), status, latest);
  renderHttp($('http-totals'), latest, totals);
  renderDeployments($('deployments'), status, latest, totals);
}

function setConnection(state, text) {
  const el = $('connection');
  el.dataset.state = state;
  el.textContent = text;
}

const events = new EventSource('/-/dashboard/events');
events.addEventListener('init', (e) => {
  const data = JSON.parse(e.data);
  ({ status, totals, server } = data);
  latest = data.history[data.history.length - 1];
  board.load(status, batchedOf(totals), data.history);
  render();
  setConnection('live', 'live');
});
events.addEventListener('message', (e) => {
  if (!status) return;
  const data = JSON.parse(e.data);
  ({ status, totals } = data);
  latest = data.sample;
  board.push(status, batchedOf(totals), latest);
  render();
});
events.addEventListener('error', () => setConnection('lost', 'reconnecting…'));
