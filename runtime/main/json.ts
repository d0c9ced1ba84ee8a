/**
 * JSON for HTTP answers. JSON.stringify turns a Float32Array into {"0":..,"1":..}; answers
 * from models are full of typed arrays, so they become plain arrays (and bigints strings).
 */
function replacer(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const arr = value as unknown as ArrayLike<number | bigint>;
    if (typeof arr[0] === 'bigint') return Array.from(arr, (x) => x.toString());
    return Array.from(arr as ArrayLike<number>);
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function toJson(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value, replacer);
}
