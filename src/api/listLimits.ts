import { GraphQLError, Kind, visit, type DocumentNode, type ExecutionResult } from 'graphql';
import { ErrorCode } from '../errors.js';

/**
 * One bound for every list argument of every operation (ids to close, mids,
 * tracks, filter ids and tags), checked before any resolver runs: a list
 * written in the document and a list passed as a variable alike. Without it
 * each operation would need its own check, and one that lacked it
 * (closeDataChannels did) answered 20,000 ids with 740 KB of per-id errors.
 */
export function useListItemLimit(maxItems: number) {
  const refuse = (found: number) => ({
    errors: [
      new GraphQLError(`a list argument has ${found} items: at most ${maxItems} per list (MAX_LIST_ITEMS)`, {
        extensions: { code: ErrorCode.LIMIT_EXCEEDED },
      }),
    ],
  } satisfies ExecutionResult);
  const check = (args: { document: DocumentNode; variableValues?: unknown }, stop: (result: ExecutionResult) => void) => {
    const found = Math.max(longestLiteralList(args.document), longestArray(args.variableValues, 0));
    if (found > maxItems) stop(refuse(found));
  };
  return {
    onExecute({ args, setResultAndStopExecution }: { args: { document: DocumentNode; variableValues?: unknown }; setResultAndStopExecution: (result: ExecutionResult) => void }) {
      check(args, setResultAndStopExecution);
    },
    onSubscribe({ args, setResultAndStopExecution }: { args: { document: DocumentNode; variableValues?: unknown }; setResultAndStopExecution: (result: ExecutionResult) => void }) {
      check(args, setResultAndStopExecution);
    },
  };
}

/** The longest list literal in the document (argument values, nested input objects included). */
function longestLiteralList(document: DocumentNode): number {
  let longest = 0;
  visit(document, {
    [Kind.LIST](node) {
      longest = Math.max(longest, node.values.length);
    },
  });
  return longest;
}

/** Variables are JSON: the longest array anywhere in them. Depth is bounded so that a crafted value cannot recurse without end. */
function longestArray(value: unknown, depth: number): number {
  if (value === null || typeof value !== 'object' || depth > 32) return 0;
  const items = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  let longest = Array.isArray(value) ? value.length : 0;
  for (const item of items) longest = Math.max(longest, longestArray(item, depth + 1));
  return longest;
}
