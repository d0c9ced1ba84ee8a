/**
 * IEEE 754 half precision (FP16) without Float16Array, which Node 20 lacks: FP16 tensors are
 * held as Uint16Array bit patterns and converted at the JSON boundary only. Plus the shortest
 * decimal text of a narrow float, so JSON answers do not show float-widening noise.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Rounds a number to the nearest half (ties to even) and returns its bits. The value passes
 * through float32 first, which can double-round in rare ties; fine for a wire format whose
 * senders already hold float32 or float16 values.
 */
export function floatToHalf(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0); // Infinity or NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // too large: Infinity
  if (e <= 0) {
    // Subnormal half (or zero): shift the significand, implicit bit included, into 10 bits.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  // A carry out of the mantissa bumps the exponent, which is the correct rounding (up to Infinity).
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant !== 0 ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * The shortest decimal (trying minDigits..maxDigits significant digits) that `narrow` maps back
 * to the same value; maxDigits must be enough to round-trip any value of the narrow type.
 * Non-finite values give 'null' because JSON cannot spell NaN or Infinity.
 */
export function shortestText(value: number, minDigits: number, maxDigits: number, narrow: (x: number) => number): string {
  if (!Number.isFinite(value)) return 'null';
  for (let p = minDigits; p < maxDigits; p++) {
    const candidate = Number(value.toPrecision(p));
    if (narrow(candidate) === value) return String(candidate);
  }
  return String(Number(value.toPrecision(maxDigits)));
}
