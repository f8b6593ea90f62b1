/** The daemon <-> client wire protocol: message schemas, parsers and line framing. */
export * from './messages.js';
export * from './parse.js';
export * from './framing.js';
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
