/**
 * Turns a sales history and a date into the feature row the forecast models take, and the
 * model's output back into units sold. The layout (F = weeks + 3, see model-builder.ts):
 *
 *   [0 .. weeks-1]  weekly sales, oldest first, divided by the history's mean (the "scale")
 *   [weeks]         sin(2π·(w-1)/W), w = ISO week of `date`, W = ISO weeks in that year (52 or 53)
 *   [weeks+1]       cos(same angle)
 *   [weeks+2]       holiday flag: 1 if the 7 days starting at `date` contain a holiday, else 0
 *
 * `date` is the first day of the week being forecast (UTC calendar day; default: now).
 * Holidays default to 1 January and 25 December, the same for every country; pass
 * `holidays: ['MM-DD', ...]` to use a country's own list.
 *
 * A history of all zeros gets scale 0 and all-zero sales features; toForecast then gives 0.
 */
import { CALENDAR_FEATURES, DEFAULT_WEEKS } from './model-builder.ts';

export const DEFAULT_HOLIDAYS: readonly string[] = ['01-01', '12-25'];

export interface FeatureOptions {
  /** Weeks of sales the model takes (its F minus 3). Default 8. */
  weeks?: number;
  /** Holidays as 'MM-DD' (UTC calendar days). Default DEFAULT_HOLIDAYS. */
  holidays?: readonly string[];
}

export interface Features {
  /** One row of F = weeks + 3 float32 features. */
  features: Float32Array;
  /** The history's mean: multiply the model output by it (toForecast) to get units sold. */
  scale: number;
}

export interface FeatureBatch {
  /** Row-major [N, F] features, ready for new Tensor('float32', data, dims). */
  data: Float32Array;
  dims: [number, number];
  /** One scale per row. */
  scales: number[];
}

/** A malformed history or date; the message names the problem (and the row, in a batch). */
export class FeatureError extends Error {
  override name = 'FeatureError';
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value);
  return typeof value;
}

/** What is wrong with a history, or null if it is `weeks` finite, non-negative numbers. */
export function historyProblem(history: unknown, weeks: number = DEFAULT_WEEKS): string | null {
  if (!Array.isArray(history)) return `history must be an array of ${weeks} weekly sales, got ${describe(history)}`;
  if (history.length !== weeks) return `history must have ${weeks} weeks of sales, got ${history.length}`;
  for (let i = 0; i < history.length; i++) {
    const v: unknown = history[i];
    if (typeof v !== 'number') return `history[${i}] must be a number, got ${describe(v)}`;
    if (!Number.isFinite(v)) return `history[${i}] must be finite, got ${v}`;
    if (v < 0) return `history[${i}] must not be negative, got ${v}`;
  }
  // Each value finite is not enough: the mean (the scale) is their sum over the weeks, and eight
  // values of 1e308 sum to Infinity.
  if (!Number.isFinite(history.reduce((sum: number, v: number) => sum + v, 0))) {
    return `history is too large: the sum of its ${weeks} values is not a finite number`;
  }
  return null;
}

/** Throws a FeatureError naming the problem unless the history is valid; returns it typed. */
export function validateHistory(history: unknown, weeks: number = DEFAULT_WEEKS): number[] {
  const problem = historyProblem(history, weeks);
  if (problem) throw new FeatureError(problem);
  return history as number[];
}

/** Throws a FeatureError unless `date` is a valid Date. */
export function validateDate(date: unknown): Date {
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) throw new FeatureError(`date must be a valid Date, got ${describe(date)}`);
  return date;
}

function checkWeeks(weeks: number) {
  if (!Number.isInteger(weeks) || weeks < 1) throw new RangeError(`weeks must be a positive integer, got ${weeks}`);
}

const HOLIDAY = /^(\d{2})-(\d{2})$/;

function parseHolidays(holidays: readonly string[]): Set<string> {
  for (const h of holidays) {
    const m = HOLIDAY.exec(h);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 12 || Number(m[2]) < 1 || Number(m[2]) > 31) {
      throw new FeatureError(`holidays must be 'MM-DD' strings, got ${describe(h)}`);
    }
  }
  return new Set(holidays);
}

const DAY_MS = 86_400_000;

/** ISO 8601 week number (1..53) of a UTC calendar day, and the ISO week-year it belongs to. */
export function isoWeek(date: Date): { year: number; week: number } {
  const day = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  const weekday = (new Date(day).getUTCDay() + 6) % 7; // Monday 0 .. Sunday 6
  const thursday = new Date(day + (3 - weekday) * DAY_MS); // the week's Thursday decides its year
  const year = thursday.getUTCFullYear();
  const week = 1 + Math.floor((thursday.getTime() - Date.UTC(year, 0, 1)) / (7 * DAY_MS));
  return { year, week };
}

/** ISO weeks in an ISO week-year: 53 when 28 December falls in week 53, else 52. */
export function isoWeeksInYear(year: number): number {
  return isoWeek(new Date(Date.UTC(year, 11, 28))).week;
}

/** The three calendar features for the week starting at `date`. */
export function calendarFeatures(date: Date, holidays: readonly string[] = DEFAULT_HOLIDAYS): [number, number, number] {
  validateDate(date);
  const days = parseHolidays(holidays);
  const { year, week } = isoWeek(date);
  const angle = (2 * Math.PI * (week - 1)) / isoWeeksInYear(year);
  const start = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  let holiday = 0;
  for (let d = 0; d < 7 && holiday === 0; d++) {
    const day = new Date(start + d * DAY_MS);
    const key = `${String(day.getUTCMonth() + 1).padStart(2, '0')}-${String(day.getUTCDate()).padStart(2, '0')}`;
    if (days.has(key)) holiday = 1;
  }
  return [Math.sin(angle), Math.cos(angle), holiday];
}

function fillRow(out: Float32Array, offset: number, history: readonly number[], calendar: readonly number[]): number {
  let sum = 0;
  for (const v of history) sum += v;
  const scale = sum / history.length;
  for (let i = 0; i < history.length; i++) out[offset + i] = scale > 0 ? history[i]! / scale : 0;
  for (let i = 0; i < calendar.length; i++) out[offset + history.length + i] = calendar[i]!;
  return scale;
}

/** One feature row for a model taking `options.weeks` (default 8) weeks of sales. */
export function buildFeatures(history: readonly number[], date: Date = new Date(), options: FeatureOptions = {}): Features {
  const weeks = options.weeks ?? DEFAULT_WEEKS;
  checkWeeks(weeks);
  validateHistory(history, weeks);
  const calendar = calendarFeatures(validateDate(date), options.holidays);
  const features = new Float32Array(weeks + CALENDAR_FEATURES);
  const scale = fillRow(features, 0, history, calendar);
  return { features, scale };
}

/** N feature rows, all for the same forecast week; errors name the row ("histories[2]: ..."). */
export function buildFeatureBatch(histories: readonly (readonly number[])[], date: Date = new Date(), options: FeatureOptions = {}): FeatureBatch {
  const weeks = options.weeks ?? DEFAULT_WEEKS;
  checkWeeks(weeks);
  if (!Array.isArray(histories) || histories.length === 0) {
    throw new FeatureError(`histories must be a non-empty array of histories, got ${describe(histories)}`);
  }
  const calendar = calendarFeatures(validateDate(date), options.holidays);
  const F = weeks + CALENDAR_FEATURES;
  const data = new Float32Array(histories.length * F);
  const scales = histories.map((history, row) => {
    const problem = historyProblem(history, weeks);
    if (problem) throw new FeatureError(`histories[${row}]: ${problem}`);
    return fillRow(data, row * F, history, calendar);
  });
  return { data, dims: [histories.length, F], scales };
}

/**
 * Model output ([N, 1], e.g. the output tensor's data) back to units sold: output × scale,
 * one scale for all rows or one per row; negative forecasts become 0 (demand is never negative).
 */
export function toForecast(output: ArrayLike<number>, scale: number | readonly number[]): number[] {
  const perRow = typeof scale !== 'number';
  if (perRow && scale.length !== output.length) {
    throw new RangeError(`toForecast got ${output.length} outputs but ${scale.length} scales`);
  }
  const result: number[] = [];
  for (let i = 0; i < output.length; i++) {
    const s = perRow ? scale[i]! : scale;
    if (!Number.isFinite(s) || s < 0) throw new RangeError(`scale must be a finite non-negative number, got ${s}`);
    const y = output[i]!;
    if (!Number.isFinite(y)) throw new RangeError(`model output ${i} is not finite: ${y}`);
    result.push(Math.max(0, y) * s);
  }
  return result;
}
