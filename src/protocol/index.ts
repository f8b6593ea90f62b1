/** The daemon <-> client wire protocol: message schemas, parsers and line framing. */
export * from './messages.js';
export * from './replies.js';
export * from './parse.js';
export * from './framing.js';
export * from './values.js';
export { MAX_INPUT_BYTES, MAX_ENV_VARS, MAX_PATH_CHARS, MAX_INPUT_DEPTH, MAX_TIMER_MS } from './limits.js';
export {
  TaskSpecSchema,
  ModuleTaskSpecSchema,
  CommandTaskSpecSchema,
  TaskSnapshotSchema,
  TaskOutcomeSchema,
  TaskErrorSchema,
  ProgressSchema,
  ResourceUsageSchema,
  StallInfoSchema,
  LogLineSchema,
  StopReasonSchema,
  TaskStateSchema,
  TerminalStateSchema,
  TaskIdSchema,
} from './schemas.js';
