import { createConnection } from "node:net";
import type { ConnectionOptions } from "bullmq";
import { DagwrightError, UsageError } from "../spec/errors.js";
import { requireOptional } from "../spec/optional-package.js";

/** The BullMQ module, loaded only when the executor or a worker is used. */
export type BullMQ = typeof import("bullmq");

/** What dagwright calls on its own Redis connections, beyond what BullMQ does. */
export interface RedisClient {
  call(...args: (string | number)[]): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  subscribe(channel: string): Promise<unknown>;
  on(event: "message", listener: (channel: string, message: string) => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  quit(): Promise<unknown>;
  /** Closes at once, even under a blocking command (a queue's event reader). */
  disconnect(): void;
  /** ioredis's connection state: `ready` while Redis answers. */
  readonly status: string;
}

type RedisConstructor = new (url: string, options: Record<string, unknown>) => RedisClient;

/** Every key dagwright's queues use starts with this (BullMQ's `prefix`). */
export const QUEUE_PREFIX = "dagwright";
/** The pub/sub channel on which a coordinator asks workers to cancel a running job (its id). */
export const CANCEL_CHANNEL = "dagwright:cancel";
/** The queue of tasks that name no `machine_type`. */
export const DEFAULT_QUEUE = "dagwright";

const FEATURE = "the BullMQ executor (--executor bullmq, dagwright worker)";

/** Loads `bullmq` (an optional peer dependency). @throws DagwrightError `E_ENV` when absent. */
export function loadBullmq(): BullMQ {
  return requireOptional<BullMQ>("bullmq", FEATURE);
}

/**
 * A new connection to `url` for one BullMQ object (a queue, its events, a worker) or for
 * dagwright's own commands. Commands wait across a Redis restart (no retry limit), so a run
 * survives one; the connection reconnects by itself. Uses `ioredis`, BullMQ's Redis client (an
 * optional peer dependency of both).
 *
 * @throws DagwrightError `E_ENV` when ioredis is not installed.
 */
export function connectRedis(url: string): RedisClient & ConnectionOptions {
  const mod = requireOptional<{ default?: RedisConstructor } & RedisConstructor>(
    "ioredis",
    FEATURE,
  );
  const Redis = mod.default ?? mod;
  return new Redis(url, {
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
  }) as unknown as RedisClient & ConnectionOptions;
}

/** A Redis URL's address, checked. */
export interface RedisAddress {
  host: string;
  port: number;
}

/**
 * The address in a `redis://` or `rediss://` URL (default port 6379).
 *
 * @throws UsageError for anything else, with an example.
 */
export function redisAddressOf(url: string): RedisAddress {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (
    !parsed ||
    (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") ||
    !parsed.hostname
  )
    throw new UsageError(
      `--redis expects a Redis URL, received ${JSON.stringify(url)}`,
      "e.g. --redis redis://127.0.0.1:6379 (or rediss:// for TLS)",
    );
  return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port: Number(parsed.port || 6379) };
}

/**
 * Checks, before anything is queued, that Redis answers at `url`, and warns (through `notice`)
 * when its `maxmemory-policy` is not `noeviction`: Redis could then drop queued jobs under memory
 * pressure. A Redis that refuses `CONFIG GET` (managed services) is taken as it is.
 *
 * @throws DagwrightError `E_ENV` naming the address and how to fix it when nothing answers.
 */
export async function checkRedis(url: string, notice: (line: string) => void): Promise<void> {
  const address = redisAddressOf(url);
  const failure = await probe(address);
  if (failure !== undefined)
    throw new DagwrightError(
      "E_ENV",
      `cannot reach Redis at ${address.host}:${address.port} (${failure})`,
      {
        hint: "start Redis there (redis-server), or point --redis at a running one: --redis redis://HOST:PORT",
      },
    );
  const client = connectRedis(url);
  try {
    let timer: NodeJS.Timeout | undefined;
    const reply = await Promise.race([
      client.call("CONFIG", "GET", "maxmemory-policy").catch(() => undefined),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 5000, undefined);
      }),
    ]).finally(() => clearTimeout(timer));
    const policy = Array.isArray(reply) ? String(reply[1] ?? "") : "";
    if (policy !== "" && policy !== "noeviction")
      notice(
        `warning: Redis at ${address.host}:${address.port} has maxmemory-policy ${policy}: it may evict queued jobs under memory pressure; set it to noeviction (CONFIG SET maxmemory-policy noeviction, or in redis.conf)`,
      );
  } finally {
    client.disconnect();
  }
}

/** Opens a TCP connection to the address: undefined when it answered, else why not. */
function probe({ host, port }: RedisAddress): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.setTimeout(5000, () => {
      socket.destroy();
      resolve("no answer within 5 s");
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      socket.destroy();
      resolve(err.code ?? err.message);
    });
    socket.on("connect", () => {
      socket.destroy();
      resolve(undefined);
    });
  });
}
