/**
 * Leases: how an agent knows, by its own clock, that it still holds a job's BullMQ lock, and stops
 * the job's task before the lock can expire when it cannot renew it.
 *
 * The agent renews the locks itself (BullMQ's own renewal is switched off), so it knows when each
 * renewal was sent: a renewal that Redis confirms extended the lock at some moment after it was
 * sent, so the lock is valid at least until sent + lockDuration. If no renewal has been confirmed
 * by then minus a margin (Redis unreachable, the lock lost), the lease is lost and the task is
 * stopped at once (SIGKILL to its group): the job's lock expires only later, and only then can
 * BullMQ's stalled checker hand the job to another agent. A renewal Redis refuses (the lock holds
 * another token) loses the lease at once.
 *
 * Limits: this holds while the agent's clock runs at the rate of Redis's (monotonic clocks; no
 * wall-clock agreement needed) and the agent's event loop runs: an agent process frozen (SIGSTOP,
 * a debugger) past the margin cannot stop anything.
 */

export interface LeaseOptions {
  lockDurationMs: number;
  /** Extends the locks of these jobs; resolves with the ids whose lock was not ours any more. */
  extend(jobIds: string[], tokens: string[]): Promise<string[]>;
  /** A lease is lost: stop the job's task now. Called once per lease. */
  onLost(jobId: string, why: string): void;
  onError?(error: unknown): void;
}

interface Lease {
  token: string;
  /** performance.now() until which the lock is known to hold. */
  validUntil: number;
  guard?: NodeJS.Timeout;
  lost: boolean;
}

export class Leases {
  readonly #options: LeaseOptions;
  readonly #leases = new Map<string, Lease>();
  readonly #renewEveryMs: number;
  readonly #marginMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: LeaseOptions) {
    this.#options = options;
    this.#renewEveryMs = Math.max(10, options.lockDurationMs / 4);
    // The guard fires with a quarter of the lock left: time for a SIGKILL to land on a busy machine.
    this.#marginMs = options.lockDurationMs / 4;
  }

  /** The lock was taken by BullMQ's moveToActive, which ran after `lockedAtWallMs` (the job's processedOn, our clock). */
  add(jobId: string, token: string, lockedAtWallMs: number | undefined): void {
    const sinceLocked = lockedAtWallMs === undefined ? 0 : Math.max(0, Date.now() - lockedAtWallMs);
    const lease: Lease = {
      token,
      validUntil: performance.now() - sinceLocked + this.#options.lockDurationMs,
      lost: false,
    };
    this.#leases.set(jobId, lease);
    this.#arm(jobId, lease);
  }

  /** A renewal sent at `sentAt` (performance.now()) was confirmed by Redis. */
  confirmed(jobId: string, sentAt: number): void {
    const lease = this.#leases.get(jobId);
    if (!lease || lease.lost) return;
    lease.validUntil = Math.max(lease.validUntil, sentAt + this.#options.lockDurationMs);
    this.#arm(jobId, lease);
  }

  /** The lock is known to be gone (Redis said so): the lease is lost now. */
  lose(jobId: string, why: string): void {
    const lease = this.#leases.get(jobId);
    if (!lease || lease.lost) return;
    lease.lost = true;
    clearTimeout(lease.guard);
    this.#options.onLost(jobId, why);
  }

  /** True while the lock is known to hold with the margin to spare. */
  holds(jobId: string): boolean {
    const lease = this.#leases.get(jobId);
    return lease !== undefined && !lease.lost && performance.now() < lease.validUntil - this.#marginMs;
  }

  remove(jobId: string): void {
    const lease = this.#leases.get(jobId);
    if (lease) clearTimeout(lease.guard);
    this.#leases.delete(jobId);
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#renew(), this.#renewEveryMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const lease of this.#leases.values()) clearTimeout(lease.guard);
  }

  #arm(jobId: string, lease: Lease): void {
    clearTimeout(lease.guard);
    const inMs = Math.max(0, lease.validUntil - this.#marginMs - performance.now());
    lease.guard = setTimeout(
      () =>
        this.lose(
          jobId,
          `its lock could not be renewed for ${Math.round(this.#options.lockDurationMs - this.#marginMs)} ms (Redis unreachable?): stopped before the lock could expire`,
        ),
      inMs,
    );
  }

  /** One renewal of every held lock; renewals do not wait for each other (one may hang while Redis is away). */
  #renew(): void {
    const ids = [...this.#leases].filter(([, lease]) => !lease.lost).map(([id]) => id);
    if (ids.length === 0) return;
    const tokens = ids.map((id) => this.#leases.get(id)!.token);
    const sentAt = performance.now();
    this.#options.extend(ids, tokens).then(
      (failed) => {
        for (const id of ids) {
          if (failed.includes(id))
            this.lose(id, 'its lock holds another token now (the job was handed to another agent)');
          else this.confirmed(id, sentAt);
        }
      },
      (error: unknown) => this.#options.onError?.(error as Error),
    );
  }
}
