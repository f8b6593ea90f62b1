/**
 * Is this file a program the kernel can run? Checked when a command task is submitted (by the CLI
 * and by the daemon), so that "not executable", "not a file" and "no interpreter line" are each
 * said at once, and plainly, instead of a "command not found" when the task starts.
 *
 * What execve(2) needs: a regular file with execute permission that is either a binary the kernel
 * knows (ELF) or a script whose first line names its interpreter (`#!/usr/bin/env python3`), that
 * interpreter being there too.
 */
import { closeSync, constants, openSync, readSync, statSync, type Stats } from 'node:fs';
import { basename, extname, isAbsolute } from 'node:path';
import { findProgram, isExecutableFile } from '../process/path-lookup.js';

/** Enough for any interpreter line Linux accepts (it reads at most 256 bytes of it). */
const HEAD_BYTES = 256;

/** Interpreters to suggest, by file extension, when the file does not name one. */
const BY_EXTENSION: Record<string, string> = {
  '.py': 'python3',
  '.sh': 'sh',
  '.bash': 'bash',
  '.js': 'node',
  '.mjs': 'node',
  '.cjs': 'node',
  '.rb': 'ruby',
  '.pl': 'perl',
  '.R': 'Rscript',
  '.r': 'Rscript',
  '.jl': 'julia',
};

/**
 * Why `path` (absolute) cannot be run as a program, as one sentence naming it as the user wrote
 * it (`shown`); undefined when it can. `envPath` is the PATH an interpreter line's `/usr/bin/env
 * NAME` is looked up in.
 */
export function programProblem(
  path: string,
  shown: string = path,
  envPath: string | undefined = process.env.PATH,
): string | undefined {
  let stat: Stats;
  try {
    stat = statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${shown}: no such file${shown !== path ? ` (${path})` : ''}`;
    if (code === 'ENOTDIR') return `${shown}: no such file (a part of the path ${path} is not a directory)`;
    return `${shown}: cannot be read (${code ?? (error as Error).message})`;
  }
  if (stat.isDirectory()) return `${shown} is a directory, not a program`;
  if (!stat.isFile()) return `${shown} is not a regular file (it is ${kindOf(stat)}), so it cannot be run as a program`;
  const head = readHead(path);
  const shebang =
    head !== undefined && head.subarray(0, 2).toString('latin1') === '#!' ? parseShebang(head) : undefined;
  const interpreter = shebang?.program ?? BY_EXTENSION[extname(path)];
  const withInterpreter = `taskwarden run -- ${interpreter ?? '<interpreter>'} ${shellWord(shown)}`;
  if (!isExecutableFile(path)) {
    return (
      `${shown} is not executable (mode ${(stat.mode & 0o777).toString(8).padStart(3, '0')}): ` +
      `make it executable with "chmod +x ${shellWord(shown)}", or name its interpreter: ${withInterpreter}`
    );
  }
  if (head === undefined) return undefined; // executable but unreadable (mode 711): the kernel may still run it
  if (head.length === 0) return `${shown} is empty, so there is no program to run`;
  if (head.subarray(0, 4).equals(ELF_MAGIC)) return undefined;
  if (!shebang) {
    return (
      `${shown} has no interpreter line: its first line should name the program that runs it, e.g. ` +
      `"#!/usr/bin/env ${interpreter ?? 'python3'}", or name the interpreter here: ${withInterpreter}`
    );
  }
  if (shebang.path === '') return `${shown} has an empty interpreter line ("#!" names no program)`;
  const pathProblem = interpreterProblem(shebang.path);
  if (pathProblem) return `the interpreter line of ${shown} names ${shebang.path}, which ${pathProblem}`;
  if (shebang.viaEnv && shebang.program !== undefined && findProgram(shebang.program, envPath) === undefined) {
    return `the interpreter line of ${shown} runs ${shebang.program} through ${shebang.path}, and ${shebang.program} is not in PATH`;
  }
  return undefined;
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

function readHead(path: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const buffer = Buffer.alloc(HEAD_BYTES);
    return buffer.subarray(0, readSync(fd, buffer, 0, HEAD_BYTES, 0));
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** "#!/usr/bin/env -S python3 -u" -> path /usr/bin/env, program python3 (through env). */
function parseShebang(head: Buffer): { path: string; program: string | undefined; viaEnv: boolean } {
  const end = head.indexOf(0x0a);
  const line = head
    .subarray(2, end < 0 ? head.length : end)
    .toString('utf8')
    .replace(/\r$/, '')
    .trim();
  const [path = '', ...args] = line.split(/[ \t]+/).filter(Boolean);
  const viaEnv = basename(path) === 'env';
  if (!viaEnv) return { path, program: basename(path) || undefined, viaEnv };
  // env's own options (-S, -i, -u NAME) and VAR=value assignments come before the program.
  const words = args.flatMap((arg) => arg.split(/\s+/));
  let program: string | undefined;
  for (let k = 0; k < words.length; k++) {
    const word = words[k]!;
    if (word === '-u' || word === '--unset' || word === '-C' || word === '--chdir') {
      k++;
      continue;
    }
    if (word.startsWith('-') || word.includes('=')) continue;
    program = word;
    break;
  }
  return { path, program, viaEnv };
}

function interpreterProblem(path: string): string | undefined {
  if (!isAbsolute(path)) return 'is not an absolute path (the kernel does not look it up in PATH)';
  try {
    const stat = statSync(path);
    if (!stat.isFile()) return 'is not a program';
  } catch {
    return 'does not exist';
  }
  return isExecutableFile(path) ? undefined : 'is not executable';
}

function kindOf(stat: Stats): string {
  if (stat.isSocket()) return 'a socket';
  if (stat.isFIFO()) return 'a named pipe';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  return 'not a file';
}

function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
