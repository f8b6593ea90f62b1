/**
 * When the store's working state is published to React: background changes at most once per
 * frame (~30 fps), and never more often than leaves the UI idle three quarters of the time
 * (FRAME_SPACING), so a key press usually finds the process idle; a key press at once, so what
 * the user pressed is on screen in the very next frame, whatever the event load.
 */

/**
 * Background commits start no sooner than this many times the last frame's cost after it: the UI
 * spends at most a quarter of its time drawing, so a key press mostly finds it idle. A frame that
 * costs 5 ms still allows 30 fps; one stretched to 40 ms by a slow or busy machine, 6 fps.
 */
export const FRAME_SPACING = 4;

export class FrameScheduler {
  /** Minimum time between two background commits. */
  readonly frameMs: number;
  /** Cost (ms) of recent frames, commit to drawn, when frameRendered() is called; for benchmarks. */
  costs: number[] | undefined;
  readonly #commit: () => void;
  #dirty = false;
  #timer: NodeJS.Timeout | undefined;
  #lastCommit = 0;
  #commitStartedAt = 0;
  /** What the last frame cost (commit to drawn, wall time). */
  #lastFrameCost = 0;

  /** `commit` publishes the working state; it calls committing() first. */
  constructor(commit: () => void, frameMs: number) {
    this.#commit = commit;
    this.frameMs = frameMs;
  }

  /** A commit is under way: nothing is pending any more, and the frame's cost counts from now. */
  committing(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#dirty = false;
    this.#lastCommit = performance.now();
    this.#commitStartedAt = this.#lastCommit;
  }

  /** The renderer has drawn a frame (Ink's onRender): measures what the commit cost. */
  frameRendered(): void {
    if (this.#commitStartedAt === 0) return;
    this.#lastFrameCost = performance.now() - this.#commitStartedAt;
    this.#commitStartedAt = 0;
    this.costs?.push(this.#lastFrameCost);
  }

  /** The working state changed; `urgent` commits at once, otherwise within one frame. */
  changed(urgent: boolean): void {
    this.#dirty = true;
    if (urgent) {
      this.#commit();
      return;
    }
    if (this.#timer) return;
    const wait = Math.max(
      0,
      this.#lastCommit + Math.max(this.frameMs, FRAME_SPACING * this.#lastFrameCost) - performance.now(),
    );
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#dirty) this.#commit();
    }, wait);
  }

  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
