// A tiny element builder: text goes in as text nodes, never as HTML, because deployment names
// and multiplexed model ids (which come from request headers) end up on the page.

/**
 * h('td', { class: 'num' }, '3') -> <td class="num">3</td>. Attribute values of null, undefined
 * or false are left out; children may be strings, numbers, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag === 'svg' || SVG_TAGS.has(tag) ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

const SVG_TAGS = new Set(['g', 'rect', 'text', 'path', 'line', 'marker', 'defs', 'title', 'tspan']);

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the element's content. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}
