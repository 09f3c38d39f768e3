/**
 * Run `fn` once per key and give every caller the same promise (buildkit's flightcontrol,
 * without cancellation: the solver's shared AbortSignal cancels the whole job instead).
 * Results are remembered for the life of the group, so a vertex shared by many runs once.
 */
export class Singleflight<K, T> {
  private readonly calls = new Map<K, Promise<T>>();

  do(key: K, fn: () => Promise<T>): Promise<T> {
    let p = this.calls.get(key);
    if (!p) {
      p = fn();
      this.calls.set(key, p);
    }
    return p;
  }

  has(key: K): boolean {
    return this.calls.has(key);
  }
}
