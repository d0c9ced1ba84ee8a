// The time-series charts, drawn with uPlot from the one-second samples: requests per second,
// latency p50/p99, error rate, calls in flight and queued, and, where there are any, mean
// batch size and multiplexed-model hit rate. Each chart has a series for HTTP (what clients
// see) and one per deployment; click a legend entry to hide or show a series.
import uPlot from '/-/dashboard/vendor/uPlot.esm.js';
import { h } from './dom.js';
import { millis, percent, rate } from './format.js';

const PALETTE = ['#2563eb', '#d97706', '#059669', '#db2777', '#7c3aed', '#0891b2', '#65a30d', '#dc2626', '#4b5563', '#a16207'];
const HTTP_COLOR = '#111827';
const HEIGHT = 190;

const pct = (v) => (v === null || v === undefined ? null : v * 100);

/** Chart definitions for the deployments of `status`; `batched`: names that ran batches. */
function chartDefs(status, batched) {
  const deps = status.deployments.map((d, i) => ({ d, color: PALETTE[i % PALETTE.length] }));
  const per = (label, pick, filter = () => true, extra = {}) =>
    deps
      .filter(({ d }) => filter(d))
      .map(({ d, color }) => ({ label: `${d.name}${label}`, stroke: color, value: (s) => pick(s.deployments[d.name]), ...extra }));
  const defs = [
    {
      id: 'rps',
      title: 'Requests per second',
      fmt: rate,
      series: [{ label: 'HTTP', stroke: HTTP_COLOR, width: 2, value: (s) => s.http.rps }, ...per(' calls', (x) => x?.rps ?? 0)],
    },
    {
      id: 'latency',
      title: 'Latency (p50 and p99)',
      fmt: millis,
      log: true,
      series: [
        { label: 'HTTP p50', stroke: HTTP_COLOR, width: 2, value: (s) => s.http.p50Ms },
        { label: 'HTTP p99', stroke: HTTP_COLOR, width: 2, dash: [6, 4], value: (s) => s.http.p99Ms },
        ...per(' p99', (x) => x?.p99Ms ?? null),
      ],
    },
    {
      id: 'errors',
      title: 'Error rate (%)',
      fmt: (v) => percent(v === null ? null : v / 100),
      series: [
        { label: 'HTTP 4xx', stroke: '#b45309', width: 2, value: (s) => pct(s.http.clientErrorRate) },
        { label: 'HTTP 5xx', stroke: '#b91c1c', width: 2, value: (s) => pct(s.http.serverErrorRate) },
        ...per(' failed', (x) => pct(x?.errorRate)),
      ],
    },
    {
      id: 'load',
      title: 'Calls in flight (solid) and queued (dashed)',
      integer: true,
      fmt: (v) => (v === null ? '–' : String(Math.round(v))),
      series: [
        ...per(' in flight', (x) => x?.inFlight ?? 0),
        ...per(
          ' queued',
          (x) => x?.queued ?? 0,
          () => true,
          { dash: [4, 4] },
        ),
      ],
    },
  ];
  if (batched.size > 0) {
    defs.push({
      id: 'batch',
      title: 'Mean batch size',
      fmt: (v) => (v === null ? '–' : v.toFixed(1)),
      series: per(
        '',
        (x) => x?.batchMean ?? null,
        (d) => batched.has(d.name),
      ),
    });
  }
  if (status.deployments.some((d) => d.multiplexed)) {
    defs.push({
      id: 'hits',
      title: 'Model cache hit rate (%)',
      fmt: (v) => percent(v === null ? null : v / 100),
      series: per(
        '',
        (x) => pct(x?.hitRate),
        (d) => d.multiplexed,
      ),
    });
  }
  return defs;
}

export class ChartBoard {
  /** `maxSamples`: how many one-second samples the charts span. */
  constructor(el, maxSamples) {
    this.el = el;
    this.maxSamples = maxSamples;
    this.samples = [];
    this.charts = [];
    this.shape = '';
    window.addEventListener('resize', () => this.resize());
  }

  /** Replaces the samples (a page's first load, or a reconnect). */
  load(status, batched, samples) {
    this.samples = samples.slice(-this.maxSamples);
    this.update(status, batched);
  }

  push(status, batched, sample) {
    this.samples.push(sample);
    if (this.samples.length > this.maxSamples) this.samples.shift();
    this.update(status, batched);
  }

  update(status, batched) {
    const shape = JSON.stringify([status.deployments.map((d) => d.name), [...batched].sort()]);
    if (shape !== this.shape) this.build(status, batched, shape);
    const xs = this.samples.map((s) => s.t / 1000);
    for (const c of this.charts) {
      c.plot.setData([xs, ...c.def.series.map((sr) => this.samples.map((s) => sr.value(s)))]);
      // Off the chart, the legend shows the latest values (on it, the values under the cursor).
      if (!(c.plot.cursor.left >= 0) && xs.length) c.plot.setLegend({ idx: xs.length - 1 });
      const last = this.samples[this.samples.length - 1];
      c.box.dataset.samples = String(this.samples.length);
      c.box.dataset.latest = last ? JSON.stringify(c.def.series.map((sr) => sr.value(last))) : '[]';
    }
  }

  build(status, batched, shape) {
    for (const c of this.charts) c.plot.destroy();
    this.el.replaceChildren();
    this.shape = shape;
    this.charts = chartDefs(status, batched).map((def) => {
      const target = h('div', { class: 'plot' });
      const box = h('figure', { class: 'chart panel', id: `chart-${def.id}` }, h('figcaption', {}, def.title), target);
      this.el.append(box);
      const opts = {
        width: target.clientWidth || 320,
        height: HEIGHT,
        scales: {
          // Always the whole window, filling from the right: seconds-apart ticks from the start.
          x: {
            time: true,
            range: (_u, _min, max) => {
              const end = max ?? Date.now() / 1000;
              return [end - this.maxSamples, end];
            },
          },
          y: def.log ? { distr: 3 } : { range: (_u, _min, max) => [0, Math.max(max ?? 0, 1)] },
        },
        axes: [
          {},
          {
            size: 64,
            values: (_u, ticks) => ticks.map((t) => def.fmt(t)),
            ...(def.integer ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10000] } : {}),
          },
        ],
        series: [
          {},
          ...def.series.map((sr) => ({
            label: sr.label,
            stroke: sr.stroke,
            width: sr.width ?? 1.5,
            dash: sr.dash,
            spanGaps: true,
            value: (_u, v) => def.fmt(v),
          })),
        ],
        legend: { live: true },
      };
      const plot = new uPlot(opts, [[], ...def.series.map(() => [])], target);
      return { def, plot, box };
    });
  }

  resize() {
    for (const c of this.charts) c.plot.setSize({ width: c.plot.root.parentElement.clientWidth || 320, height: HEIGHT });
  }
}
