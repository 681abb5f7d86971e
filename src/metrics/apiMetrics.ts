import { GraphQLError, Kind, type DocumentNode, type OperationDefinitionNode } from 'graphql';
import { SwitchyardError } from '../errors.js';

/** Where the API's timings go (SwitchyardMetrics). */
export interface ApiObserver {
  observeOperation(operation: string, code: string, seconds: number): void;
}

/** The operation's first root field (createSession, pullTracks, session…): a fixed set, unlike client-chosen operation names. */
function rootField(document: DocumentNode, operationName: string | null | undefined): string {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const operation = operationName ? operations.find((o) => o.name?.value === operationName) : operations[0];
  for (const selection of operation?.selectionSet.selections ?? []) {
    if (selection.kind === Kind.FIELD && !selection.name.value.startsWith('__')) return selection.name.value;
  }
  return 'unknown';
}

/** The contract code of a result's first error, OK without errors. */
function codeOf(errors: readonly GraphQLError[] | undefined): string {
  const first = errors?.[0];
  if (!first) return 'OK';
  if (first.originalError instanceof SwitchyardError) return first.originalError.code;
  const code = first.extensions?.code;
  return typeof code === 'string' ? code : 'INTERNAL';
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/**
 * An envelop plugin that times every query and mutation (HTTP and graphql-ws)
 * by root field and result code. Subscriptions are streams, not calls: they
 * are counted as live subscriptions instead.
 */
export function useApiMetrics(observer: ApiObserver) {
  return {
    onExecute({ args }: { args: { document: DocumentNode; operationName?: string | null } }) {
      const started = process.hrtime.bigint();
      const operation = rootField(args.document, args.operationName);
      return {
        onExecuteDone({ result }: { result: unknown }) {
          if (isAsyncIterable(result)) return;
          const errors = (result as { errors?: readonly GraphQLError[] }).errors;
          observer.observeOperation(operation, codeOf(errors), Number(process.hrtime.bigint() - started) / 1e9);
        },
      };
    },
  };
}
