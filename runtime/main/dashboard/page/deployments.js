// One card per deployment: what it is (ingress of which route, calls which deployments,
// multiplexed, batched), its live figures from the latest sample, its totals, and a table of
// its replicas with state, device, calls in flight and the multiplexed models each holds.
import { fill, h } from './dom.js';
import { count, device, millis, percent, rate, since, time } from './format.js';

function figure(label, value, key) {
  return h('div', { class: 'figure', 'data-figure': key ?? null }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value));
}

/** The HTTP panel: what clients see, from the latest sample and the totals. */
export function renderHttp(el, sample, totals) {
  const s = sample?.http;
  const t = totals?.http ?? { requests: 0, clientErrors: 0, serverErrors: 0 };
  fill(
    el,
    figure('requests', count(t.requests), 'http-requests'),
    figure('requests/s', rate(s?.rps ?? 0), 'http-rps'),
    figure('p50', millis(s?.p50Ms)),
    figure('p99', millis(s?.p99Ms)),
    figure('4xx', `${count(t.clientErrors)} (${percent(s?.clientErrorRate)})`, 'http-4xx'),
    figure('5xx', `${count(t.serverErrors)} (${percent(s?.serverErrorRate)})`, 'http-5xx'),
  );
}

function replicaTable(d) {
  const head = ['replica', 'state', 'device', 'in flight', ...(d.multiplexed ? ['models held'] : []), 'up for'];
  return h(
    'table',
    { class: 'replicas' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        head.map((c) => h('th', {}, c)),
      ),
    ),
    h(
      'tbody',
      {},
      d.replicas.map((r) =>
        h(
          'tr',
          { 'data-replica': r.id },
          h('td', {}, r.id),
          h('td', {}, h('span', { class: `state ${r.state}` }, r.state)),
          h('td', {}, device(r.gpuIds, d.numGpus)),
          h(
            'td',
            { class: 'num' },
            h('meter', { min: 0, max: d.maxOngoingRequests, value: r.inFlight, title: `${r.inFlight} of ${d.maxOngoingRequests}` }),
            ` ${r.inFlight}/${d.maxOngoingRequests}`,
          ),
          d.multiplexed ? h('td', { class: 'models' }, r.models.length ? r.models.join(', ') : '–') : null,
          h('td', {}, since(r.startedAt)),
        ),
      ),
    ),
  );
}

function roles(d, status) {
  const out = [];
  for (const a of status.applications)
    if (a.ingress === d.name) out.push(a.route === null ? `ingress of ${a.name}` : `ingress of ${a.name} at POST ${a.route}`);
  if (d.calls.length) out.push(`calls ${d.calls.join(', ')}`);
  return out;
}

function autoscaling(d) {
  if (!d.autoscalingDecisions.length) return h('p', { class: 'quiet' }, 'Autoscaling: no decisions recorded.');
  return h(
    'div',
    { class: 'autoscaling' },
    h('h4', {}, 'Autoscaling decisions'),
    h(
      'ul',
      {},
      d.autoscalingDecisions
        .slice()
        .reverse()
        .map((x) => h('li', {}, `${time(x.at)}: ${x.from} → ${x.to} replicas (${x.reason})`)),
    ),
  );
}

function card(d, status, s, t) {
  const badges = [
    d.multiplexed ? h('span', { class: 'badge' }, 'multiplexed') : null,
    t.batches > 0 ? h('span', { class: 'badge' }, 'batched') : null,
    d.numGpus > 0 ? h('span', { class: 'badge' }, `${d.numGpus} GPU/replica`) : null,
  ];
  const queueLimit = d.maxQueuedRequests < 0 ? '' : ` / ${d.maxQueuedRequests}`;
  const figures = [
    figure('calls/s', rate(s?.rps ?? 0), 'rps'),
    figure('calls', count(t.requests), 'calls'),
    figure('failed', `${count(t.errors)} (${percent(s?.errorRate)})`, 'errors'),
    figure('p50 / p99', `${millis(s?.p50Ms)} / ${millis(s?.p99Ms)}`),
    figure('queue wait p99', millis(s?.queueP99Ms)),
    figure('queued', `${d.queued}${queueLimit}`, 'queued'),
    figure('relayed / direct', `${count(d.relayed)} / ${count(d.direct)}`),
  ];
  if (d.multiplexed) {
    const lookups = t.modelHits + t.modelMisses;
    figures.push(
      figure('hit rate (now / all)', `${percent(s?.hitRate)} / ${percent(lookups ? t.modelHits / lookups : null)}`, 'hit-rate'),
      figure('loads / evictions', `${count(t.modelLoads)} / ${count(t.modelEvictions)}`),
    );
  }
  if (t.batches > 0) {
    figures.push(
      figure('batch size (now / mean)', `${s?.batchMean?.toFixed(1) ?? '–'} / ${(t.batchedItems / t.batches).toFixed(1)}`, 'batch'),
      figure('batches', count(t.batches)),
    );
  }
  return h(
    'article',
    { class: 'deployment panel', 'data-deployment': d.name },
    h('header', {}, h('h3', {}, d.name), badges, h('span', { class: 'roles' }, roles(d, status).join(' · '))),
    h('div', { class: 'figures' }, figures),
    replicaTable(d),
    autoscaling(d),
  );
}

const NO_TOTALS = { requests: 0, errors: 0, batches: 0, batchedItems: 0, modelHits: 0, modelMisses: 0, modelLoads: 0, modelEvictions: 0 };

export function renderDeployments(el, status, sample, totals) {
  fill(
    el,
    status.deployments.map((d) => card(d, status, sample?.deployments[d.name], totals?.deployments[d.name] ?? NO_TOTALS)),
  );
}
