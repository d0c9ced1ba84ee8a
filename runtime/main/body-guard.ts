/**
 * Checks on values parsed from a client's JSON or msgpack before any code sees them:
 *  - non-finite numbers: JSON has no Infinity, but `1e999` parses to it, and msgpack carries
 *    NaN and Infinity as floats; user code then fails far from the cause (a forecast's scale
 *    overflowing into a 500). A client sent them, so the answer is a 400 naming the field.
 *  - reserved names as object keys (`__proto__`, `constructor`, `prototype`): JSON.parse makes
 *    `__proto__` an own key, and code that copies keys onto a plain object (`out[key] = v`)
 *    then sets a prototype instead of a field, silently dropping it or worse.
 *  - values that are not plain data: msgpack extensions decode to class instances.
 * The walk is iterative (a deeply nested body cannot overflow the stack) and builds the path
 * of the offending field only when it finds one.
 */
import { codedError } from '../shared/error-codes.ts';

export const RESERVED_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

interface Frame {
  value: unknown;
  parent: Frame | undefined;
  key: string | number | undefined;
}

function pathOf(frame: Frame, root: string): string {
  const keys: Array<string | number> = [];
  for (let f: Frame | undefined = frame; f?.key !== undefined; f = f.parent) keys.push(f.key);
  return (
    root +
    keys
      .reverse()
      .map((k) => (typeof k === 'number' ? `[${k}]` : /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`))
      .join('')
  );
}

/** A 400 INVALID_INPUT naming the path (`body.history[3]`) when the value holds a non-finite number or a reserved key. */
export function checkParsedValues(value: unknown, root = 'body'): void {
  const stack: Frame[] = [{ value, parent: undefined, key: undefined }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    const v = frame.value;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw codedError('INVALID_INPUT', `${pathOf(frame, root)} must be a finite number, got ${v}`);
      continue;
    }
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v) || v instanceof Date) continue;
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null && !Array.isArray(v)) {
      // msgpack extensions decode to class instances (Map, Set, msgpackr's own C1Type...) that
      // user code does not expect and that may not cross threads.
      throw codedError(
        'INVALID_INPUT',
        `${pathOf(frame, root)} is a ${(v as object).constructor?.name ?? 'non-plain object'}; a body holds plain objects, arrays, strings, numbers, booleans, null and binary data`,
      );
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const item: unknown = v[i];
        if (typeof item === 'object' || typeof item === 'number') stack.push({ value: item, parent: frame, key: i });
      }
      continue;
    }
    for (const key of Object.keys(v)) {
      if (RESERVED_NAMES.has(key)) {
        throw codedError(
          'INVALID_INPUT',
          `${pathOf({ value: undefined, parent: frame, key }, root)}: "${key}" is a reserved name and cannot be used as a field name`,
        );
      }
      const item: unknown = (v as Record<string, unknown>)[key];
      if (typeof item === 'object' || typeof item === 'number') stack.push({ value: item, parent: frame, key });
    }
  }
}
