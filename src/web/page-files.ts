/**
 * The files of the web page the server sends: a fixed list, read from the package once at start,
 * so that no path taken from a request ever reaches the file system, and a missing build is said at
 * start rather than on the first request.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A file of the page as it is served: its bytes and its Content-Type. */
export interface PageFile {
  body: Buffer;
  type: string;
}

/** The page's files by route. */
export type PageFiles = ReadonlyMap<string, PageFile>;

const assets = (name: string) => fileURLToPath(new URL(`../../../assets/web/${name}`, import.meta.url));
const compiled = (name: string) => fileURLToPath(new URL(`./page/${name}`, import.meta.url));
const JS = 'text/javascript; charset=utf-8';

/** Everything the server ever sends from disk: the route, where it lies in the package, and its type. */
const PAGE_FILES: Readonly<Record<string, { path: string; type: string }>> = {
  '/': { path: assets('index.html'), type: 'text/html; charset=utf-8' },
  '/style.css': { path: assets('style.css'), type: 'text/css; charset=utf-8' },
  '/app.js': { path: compiled('app.js'), type: JS },
  '/model.js': { path: compiled('model.js'), type: JS },
  '/view.js': { path: compiled('view.js'), type: JS },
  '/format.js': { path: compiled('format.js'), type: JS },
  '/click-metrics.js': { path: compiled('click-metrics.js'), type: JS },
  '/details.js': { path: compiled('details.js'), type: JS },
  '/dom.js': { path: compiled('dom.js'), type: JS },
  '/event-stream.js': { path: compiled('event-stream.js'), type: JS },
  '/frames.js': { path: compiled('frames.js'), type: JS },
  '/header.js': { path: compiled('header.js'), type: JS },
  '/post-json.js': { path: compiled('post-json.js'), type: JS },
  '/row-actions.js': { path: compiled('row-actions.js'), type: JS },
  '/stop-all.js': { path: compiled('stop-all.js'), type: JS },
  '/template-buttons.js': { path: compiled('template-buttons.js'), type: JS },
};

export function loadPageFiles(): PageFiles {
  const files = new Map<string, PageFile>();
  for (const [route, file] of Object.entries(PAGE_FILES)) {
    try {
      files.set(route, { body: readFileSync(file.path), type: file.type });
    } catch (error) {
      throw new Error(
        `the web page's file ${file.path} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): build taskwarden first ("npm run build")`,
        { cause: error },
      );
    }
  }
  return files;
}
