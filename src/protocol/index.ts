/** The daemon <-> client wire protocol: message schemas, parsers and line framing. */
export * from './messages.js';
export * from './replies.js';
export * from './parse.js';
export * from './framing.js';
export * from './values.js';
export * from './value-fields.js';
