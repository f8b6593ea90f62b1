/**
 * The full-screen pages (help, task details) as lists of styled lines, each at most `width` cells:
 * long text is wrapped here, so a page never depends on Ink's layout to fit (a column Box shrinks
 * lines that do not fit onto each other). The component draws the lines that fit and scrolls.
 * This file: the line model, wrapping, scrolling, and the help page; details-page.ts the details.
 */
import { oneLine } from './format.js';
import { KEY_HELP } from './keys.js';
import type { Template } from '../tasks/templates.js';

export interface Seg {
  text: string;
  color?: string;
  bold?: boolean;
  dim?: boolean;
}
export type Line = readonly Seg[];

type Style = Omit<Seg, 'text'>;

function width(text: string): number {
  return [...text].length;
}

/**
 * Wraps styled text: `prefix` starts the first line, continuation lines start with `indent`
 * spaces; words break at spaces, a word longer than a line is cut into pieces. Every line is at
 * most `cols` cells.
 */
export function wrapSegs(prefix: string | readonly Seg[], segs: readonly Seg[], cols: number, indent: number): Line[] {
  const room = Math.max(1, cols);
  const ind = Math.min(Math.max(0, indent), room - 1);
  // words: runs of non-space characters, each a list of styled pieces; `space` = a space before it
  const words: Array<{ pieces: Seg[]; space: boolean }> = [];
  let space = false;
  for (const seg of segs) {
    const style: Style = {};
    if (seg.color) style.color = seg.color;
    if (seg.bold) style.bold = true;
    if (seg.dim) style.dim = true;
    for (const part of oneLine(seg.text).split(/( +)/)) {
      if (part === '') continue;
      if (part.startsWith(' ')) {
        space = true;
        continue;
      }
      const last = words.at(-1);
      if (last && !space) last.pieces.push({ ...style, text: part });
      else words.push({ pieces: [{ ...style, text: part }], space: space && words.length > 0 });
      space = false;
    }
  }
  const lines: Seg[][] = [];
  const head: Seg[] = typeof prefix === 'string' ? (prefix ? [{ text: prefix }] : []) : [...prefix];
  let line: Seg[] = head;
  let used = head.reduce((a, p) => a + width(p.text), 0);
  let start = used;
  const newLine = () => {
    lines.push(line);
    line = ind > 0 ? [{ text: ' '.repeat(ind) }] : [];
    used = ind;
    start = ind;
  };
  for (const word of words) {
    const w = word.pieces.reduce((a, p) => a + width(p.text), 0);
    const gap = word.space && used > start ? 1 : 0;
    if (used + gap + w > room && used > start) newLine();
    else if (gap) {
      line.push({ text: ' ' });
      used += 1;
    }
    for (const piece of word.pieces) {
      let chars = [...piece.text];
      while (chars.length > 0) {
        if (used >= room) newLine();
        const take = chars.slice(0, room - used);
        line.push({ ...piece, text: take.join('') });
        used += take.length;
        chars = chars.slice(take.length);
      }
    }
  }
  lines.push(line);
  return lines;
}

/** The first line shown for a scroll position: pages scroll until their last line is in view. */
export function clampPageScroll(scroll: number, lineCount: number, height: number): number {
  if (lineCount <= height) return 0;
  const body = Math.max(1, height - 1);
  return Math.max(0, Math.min(scroll, lineCount - body));
}

// ---- help ---------------------------------------------------------------------------------------

export function helpLines(templates: readonly Template[], source: string | undefined, cols: number): Line[] {
  const lines: Line[] = [[{ text: ' Keys', bold: true }]];
  const keyCol = Math.max(...KEY_HELP.map((k) => width(k.keys)));
  const side = cols - (2 + keyCol + 1) >= 24;
  for (const k of KEY_HELP) {
    if (side) {
      lines.push(
        ...wrapSegs(
          [{ text: '  ' }, { text: k.keys.padEnd(keyCol), color: 'cyan' }, { text: ' ' }],
          [{ text: k.what }],
          cols,
          2 + keyCol + 1,
        ),
      );
    } else {
      lines.push(...wrapSegs('  ', [{ text: k.keys, color: 'cyan' }], cols, 4));
      lines.push(...wrapSegs('    ', [{ text: k.what }], cols, 4));
    }
  }
  lines.push([{ text: '' }]);
  lines.push(
    ...wrapSegs(
      ' ',
      [
        { text: 'Templates', bold: true },
        {
          text: ` (${source ? `from ${source}` : 'built-in defaults; put a taskwarden.config.json here or pass --config to change them'})`,
          dim: true,
        },
      ],
      cols,
      1,
    ),
  );
  if (templates.length === 0) lines.push([{ text: '  (none configured)', dim: true }]);
  for (const t of templates) {
    const segs: Seg[] = [{ text: String(t.key), color: 'cyan' }, { text: ` ${t.name}` }];
    if (t.description) segs.push({ text: ` — ${t.description}`, dim: true });
    lines.push(...wrapSegs('  ', segs, cols, 4));
  }
  lines.push([{ text: '' }]);
  lines.push(
    ...wrapSegs(
      ' ',
      [{ text: 'Esc closes this help; 1-9, k, K, r and s close it and do what they do.', dim: true }],
      cols,
      1,
    ),
  );
  return lines;
}
