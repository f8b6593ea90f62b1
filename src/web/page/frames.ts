/**
 * When the page draws: in animation frames, one at a time; frames for progress and usage reports
 * alone are paced (PACED_FRAME_MS apart), so rows that change ten times a second are painted
 * together and the browser keeps its time for scrolling and clicks; state changes and clicks never
 * wait. It also records frame intervals and the page's own work per frame for the benchmark.
 */

/** Frames for reports only (progress, usage) are at least this far apart (about 20 a second). */
const PACED_FRAME_MS = 50;

export class FrameScheduler {
  readonly #draw: () => void;
  #requested = false;
  #pacedTimer: number | undefined;
  #lastFrame = -Infinity;
  #recorder: { deltas: number[]; work: number[]; last: number } | undefined;

  constructor(draw: () => void) {
    this.#draw = draw;
  }

  /** A frame for what changed; `paced`: only reports changed, so it may wait for the pace. */
  request(paced = false): void {
    if (this.#requested) {
      if (paced || this.#pacedTimer === undefined) return;
      // Something that must not wait came in while a paced frame waited: draw now.
      window.clearTimeout(this.#pacedTimer);
      this.#pacedTimer = undefined;
      requestAnimationFrame(() => this.#frame());
      return;
    }
    this.#requested = true;
    const wait = paced ? this.#lastFrame + PACED_FRAME_MS - performance.now() : 0;
    if (wait <= 0) {
      requestAnimationFrame(() => this.#frame());
      return;
    }
    this.#pacedTimer = window.setTimeout(() => {
      this.#pacedTimer = undefined;
      requestAnimationFrame(() => this.#frame());
    }, wait);
  }

  #frame(): void {
    if (!this.#requested) return;
    this.#requested = false;
    const started = performance.now();
    this.#lastFrame = started;
    this.#draw();
    this.#recorder?.work.push(performance.now() - started);
  }

  /** Records frame intervals and the page's own work per frame until stopRecording(). */
  record(): void {
    this.#recorder = { deltas: [], work: [], last: performance.now() };
    const recorder = this.#recorder;
    const loop = (time: number) => {
      if (this.#recorder !== recorder) return;
      recorder.deltas.push(time - recorder.last);
      recorder.last = time;
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  stopRecording(): { deltas: number[]; work: number[] } {
    const recorder = this.#recorder ?? { deltas: [], work: [] };
    this.#recorder = undefined;
    return { deltas: recorder.deltas.slice(1), work: recorder.work };
  }
}
