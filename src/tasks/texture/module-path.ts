/**
 * Where the compiled texture task module is, in a file of its own: the daemon needs the path (its
 * texture tasks reuse runners by default) without loading the texture library.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);

/**
 * Absolute path of the compiled task module (dist/src/tasks/texture/task.js), for
 * `supervisor.start({ module: textureTaskModule, input: { images } })`. When this file runs from
 * the TypeScript sources (tests), it still points at the compiled module, which a runner can load.
 */
export const textureTaskModule: string = here.endsWith('.ts')
  ? path.resolve(path.dirname(here), '../../../dist/src/tasks/texture/task.js')
  : path.join(path.dirname(here), 'task.js');
