/**
 * Bounds every task spec and option must respect, checked at the edge (options.ts for
 * library callers, src/protocol for the daemon's clients) so that nothing past the
 * check can fail on them later, in a timer or in the IPC serializer, where no caller
 * is left to tell.
 */

/**
 * The longest delay a Node.js timer can wait: 2^31 - 1 ms, about 24.8 days.
 * setTimeout/setInterval turn anything longer into 1 ms (a TimeoutOverflowWarning),
 * so a timeoutMs of 3e9 would cancel a task at once.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/** MAX_TIMER_MS in words, for error messages. */
export const MAX_TIMER_TEXT = `${MAX_TIMER_MS} ms (about 24.8 days, the longest a Node.js timer can wait)`;

/**
 * Levels of arrays and objects (Maps, Sets) a module task's input may nest. The IPC
 * serializer (V8's structured clone) recurses once per level and throws "Maximum call
 * stack size exceeded" a few thousand levels down, sooner the deeper the stack it is
 * called from; real inputs are a few levels deep.
 */
export const MAX_INPUT_DEPTH = 64;

/**
 * True when `value` nests arrays/objects more than `limit` levels deep (a scalar is
 * depth 0, `[]` depth 1, `[[1]]` depth 2). Walks without recursion, so any depth is
 * measured without overflowing the stack, and in the serializer's order (depth first,
 * an object met again is a back-reference there, not a level), so cyclic or shared
 * structures count as the serializer sees them. Stops at the first node past the limit.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (!isContainer(value)) return false;
  const seen = new Set<object>();
  const stack: Array<{ node: object; depth: number }> = [{ node: value, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (seen.has(node)) continue;
    if (depth > limit) return true;
    seen.add(node);
    const children = childrenOf(node);
    // Pushed in reverse so the first child is walked first, as the serializer does.
    for (let i = children.length - 1; i >= 0; i--) {
      const child = children[i];
      if (isContainer(child) && !seen.has(child)) stack.push({ node: child, depth: depth + 1 });
    }
  }
  return false;
}

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer);
}

function childrenOf(node: object): unknown[] {
  if (Array.isArray(node)) return node;
  if (node instanceof Map) {
    const out: unknown[] = [];
    for (const [key, value] of node) out.push(key, value);
    return out;
  }
  if (node instanceof Set) return [...node];
  return Object.values(node);
}
