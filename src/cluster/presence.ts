/**
 * An agent's presence in the cluster: a key with a TTL that it refreshes every second while it
 * lives (what clients list as the live agents, and wait for in an emergency stop), so a dead
 * agent's entry expires by itself; a closing agent removes its own.
 */
import type { Redis } from 'ioredis';
import type { AgentInfo } from './control.js';
import type { ClusterKeys } from './keys.js';

const HEARTBEAT_MS = 1000;
const AGENT_TTL_MS = 5000;

export class AgentPresence {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #keys: ClusterKeys;
  readonly #describe: () => AgentInfo;
  #timer: NodeJS.Timeout | undefined;

  constructor(redis: Redis, keys: ClusterKeys, name: string, describe: () => AgentInfo) {
    this.#redis = redis;
    this.#keys = keys;
    this.#key = keys.agent(name);
    this.#describe = describe;
  }

  /** The first heartbeat, then one every second. */
  async start(): Promise<void> {
    await this.#beat();
    this.#timer = setInterval(() => void this.#beat().catch(() => {}), HEARTBEAT_MS);
  }

  /** No more heartbeats; the entry stays until withdraw() or its TTL. */
  stop(): void {
    clearInterval(this.#timer);
  }

  async withdraw(): Promise<void> {
    await this.#redis.del(this.#key).catch(() => {});
  }

  async #beat(): Promise<void> {
    const info = this.#describe();
    await this.#redis
      .multi()
      .set(this.#key, JSON.stringify(info), 'PX', AGENT_TTL_MS)
      .sadd(this.#keys.agents, info.name)
      .exec();
  }
}
