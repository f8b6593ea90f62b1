// What `npm run lint` checks beyond the compiler: typescript-eslint's strict type-checked rules on src/,
// bench/ and test/, the React hooks rules on the terminal UI's components, and ESLint's recommended rules on
// the plain JavaScript (task fixtures, bench workers, scripts, examples). Rules turned off or relaxed say why.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // syntax-error.mjs is a task module that fails to parse on purpose.
  { ignores: ['dist/', 'node_modules/', 'test/fixtures/syntax-error.mjs'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  { languageOptions: { globals: globals.node } },
  {
    files: ['**/*.ts', '**/*.tsx'],
    extends: [tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Numbers and booleans read naturally in messages (`task ${id} took ${ms} ms`); objects, nullish values
      // and anything without a useful toString still need a deliberate conversion.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      '@typescript-eslint/restrict-plus-operands': ['error', { allowNumberAndString: true }],
      // With noUncheckedIndexedAccess, `xs[i]!` is how an index that is in range by construction is said.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `(x) => list.push(x)` as a callback and `return this.#dispatch(...)` as an early exit from a function
      // that returns nothing are the code's idiom; a void value used as a value is still caught.
      '@typescript-eslint/no-confusing-void-expression': [
        'error',
        { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true },
      ],
      // Omitting a field by destructuring it away (`const { pending: _pending, ...rest } = task`) is deliberate,
      // and a parameter named `_x` is unused on purpose (as the compiler's noUnusedParameters reads it).
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_' }],
      // Off: the public API and the wire are checked for what JavaScript callers and other processes can send,
      // whatever the types say (`typeof options !== 'object'`, `JSON.stringify(v) ?? ...`, which TypeScript
      // types as always a string), and state changed by callbacks across an await reads as never changing;
      // most of what it found here was such deliberate checks.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // Off: `[...text]` splits a string into code points, which is what the terminal UI's width and cut
      // functions count, on purpose.
      '@typescript-eslint/no-misused-spread': 'off',
      // Off: a caller's bad value is shown as JavaScript would (`got ${String(value)}`), at the API's edge,
      // and a value a JavaScript caller passes is converted whatever its declared type (`Number(fraction)`).
      '@typescript-eslint/no-base-to-string': 'off',
      '@typescript-eslint/no-unnecessary-type-conversion': 'off',
      // A catch clause's value is `unknown`; passing on what was caught is right.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // `let id; ... id = task.id` where callbacks set up before the assignment read it: const cannot say that.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Off: an `async` function without an await is how an implementation of an async interface (a client's
      // request, a contender's close) promises to reject rather than throw.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // The web page's scripts are compiled for the browser by a project of their own (tsconfig.page.json).
    files: ['src/web/page/**/*.ts'],
    languageOptions: {
      globals: globals.browser,
      parserOptions: { projectService: false, project: './tsconfig.page.json', tsconfigRootDir: import.meta.dirname },
    },
  },

  {
    files: ['test/**/*.ts', 'test/**/*.tsx'],
    rules: {
      // Tests read the daemon's replies and hostile input as raw JSON on purpose; what is typed (the client,
      // the schemas) is typed in src/, and the tests assert on the values themselves.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      // One import style, so one test process never loads two copies of a module: the source path, which
      // vitest.config.ts resolves to the build. (Task modules under test/fixtures import 'taskwarden/task' as
      // users do; they are .mjs, not covered here.)
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/dist/**'],
              message: 'Import ../../src/... instead: vitest.config.ts resolves it to the build.',
            },
            {
              group: ['taskwarden', 'taskwarden/*'],
              message: 'Import ../../src/... instead: vitest.config.ts resolves it to the build.',
            },
          ],
        },
      ],
    },
  },
  { files: ['**/*.tsx'], extends: [reactHooks.configs.flat.recommended] },
  {
    // Terminal code strips and matches escape sequences and control characters on purpose.
    files: ['src/tui/**', 'test/tui/**', 'bench/tui.ts'],
    rules: { 'no-control-regex': 'off' },
  },
);
