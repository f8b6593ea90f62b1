/**
 * Minimal SGR styling for strings the UI builds itself (table rows), with the same switch as
 * chalk: colours on a TTY unless NO_COLOR is set, always with FORCE_COLOR (not 0).
 */

const FG: Record<string, number> = {
  black: 30,
  red: 31,
  green: 32,
  yellow: 33,
  blue: 34,
  magenta: 35,
  cyan: 36,
  white: 37,
  gray: 90,
  grey: 90,
};

export interface Style {
  color?: string;
  bold?: boolean;
  dim?: boolean;
}

export function colorsEnabled(stream: { isTTY?: boolean } | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined && force !== '') return force !== '0' && force !== 'false';
  if ('NO_COLOR' in env && env.NO_COLOR !== '') return false;
  return stream?.isTTY === true && env.TERM !== 'dumb';
}

/** `text` in `style`, closing only what it opened (so an enclosing inverse survives). */
export function paint(text: string, style: Style, colors: boolean): string {
  if (!colors || text.length === 0) return text;
  let open = '';
  let close = '';
  const fg = style.color ? FG[style.color] : undefined;
  if (fg !== undefined) {
    open += `\x1b[${fg}m`;
    close = '\x1b[39m' + close;
  }
  if (style.bold) {
    open += '\x1b[1m';
    close = '\x1b[22m' + close;
  } else if (style.dim) {
    open += '\x1b[2m';
    close = '\x1b[22m' + close;
  }
  return open ? open + text + close : text;
}

export function inverse(text: string, colors: boolean): string {
  return colors ? `\x1b[7m${text}\x1b[27m` : text;
}
