// The part of autocannon's API the load benchmark uses (the package ships no types).
declare module 'autocannon' {
  interface Histogram { p50: number; p99: number; average: number; max: number }
  interface Result {
    requests: Histogram & { total: number; average: number };
    latency: Histogram;
    errors: number; timeouts: number; non2xx: number; duration: number;
    '2xx': number; '5xx': number; statusCodeStats: Record<string, { count: number }>;
  }
  interface Options {
    url: string; connections?: number; duration?: number; method?: string; body?: Buffer | string;
    headers?: Record<string, string>; timeout?: number; pipelining?: number;
  }
  function autocannon(opts: Options): Promise<Result>;
  export default autocannon;
}
