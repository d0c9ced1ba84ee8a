/**
 * Types only: how a batched method looks to its callers. A TC39 method decorator cannot change
 * the type TypeScript gives the method, so `@batch() async predict(items: X[]): Promise<Y[]>`
 * still reads as taking an array, while callers (handles) pass one X and get one Y.
 *
 * The fix is a brand on the parameter: declare it `items: Batch<X>` (an X[] with a phantom,
 * optional marker, so the body uses it as an array and tests may pass plain arrays), and
 * `PerItem` turns such a method type into `(item: X) => Promise<Y>`. Handle<T> is meant to
 * map every method through PerItem, so that `Handle<Model>.predict` takes one item. Lives in shared/ because
 * handles are built on both sides; nothing here exists at run time.
 */

declare const batchBrand: unique symbol;

/** The parameter type of a batched method: an array of items, marked for `PerItem`. */
export type Batch<I> = I[] & { readonly [batchBrand]?: I };

/** The result one caller gets: a slot's value, with the per-item Error slots taken out. */
type ItemResult<R> = R extends ReadonlyArray<infer O> ? Exclude<O, Error> : never;

/**
 * `(items: Batch<I>) => Promise<(O | Error)[]>` becomes `(item: I) => Promise<O>`; any other
 * function type is left as it is. The brand is tested through `keyof` because a plain `X[]`
 * parameter would otherwise match `Batch<infer I>` by ordinary assignability.
 */
export type PerItem<F> = F extends (items: infer P) => infer R
  ? typeof batchBrand extends keyof P
    ? P extends { readonly [batchBrand]?: infer I }
      ? (item: I) => Promise<ItemResult<Awaited<R>>>
      : F
    : F
  : F;
