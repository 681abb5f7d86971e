import { GraphQLError } from 'graphql';
import { ErrorCode, SwitchyardError } from '../errors.js';
import type { Logger } from '../logger.js';
import { isLimitError } from './armor.js';

const isGraphQLError = (error: unknown): error is GraphQLError => error instanceof GraphQLError;

/**
 * Gives every error that leaves the API one of the contract's codes:
 * Switchyard's own errors keep theirs (and their messages, which carry no
 * raw library text: a raw `cause` they stand for is logged here), errors of
 * the GraphQL layer itself (syntax, validation, bad variables) are
 * BAD_REQUEST, and anything unexpected is logged and answered as INTERNAL
 * without its details.
 */
export function createErrorMasker(logger: Logger) {
  return (error: unknown, message: string): Error => {
    const original = isGraphQLError(error) ? error.originalError : error;
    const location = isGraphQLError(error) ? { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path } : {};
    if (original instanceof SwitchyardError) {
      // The raw error behind a stable message (ioredis's, when Redis did not answer) is for the operator, not the client.
      if (original.cause !== undefined) logger.warn({ err: original.cause, code: original.code }, `answered ${original.code}: ${original.message}`);
      // Refused credentials answer 401 (yoga reads extensions.http and strips it); the rest stay 200 as GraphQL results.
      const http = original.code === ErrorCode.UNAUTHENTICATED ? { http: { status: 401 } } : {};
      return new GraphQLError(original.message, { ...location, extensions: { ...original.extensions, code: original.code, ...http } });
    }
    if (isGraphQLError(error) && (!error.originalError || isGraphQLError(error.originalError))) {
      const code = graphqlLayerCode(error.message, error.extensions?.code);
      return new GraphQLError(error.message, { ...location, extensions: { ...error.extensions, code } });
    }
    logger.error({ err: original }, 'unexpected error in a resolver');
    return new GraphQLError(message, { ...location, extensions: { code: ErrorCode.INTERNAL } });
  };
}

const contractCodes = new Set<string>(Object.values(ErrorCode));

/** The contract code of an error of the GraphQL layer: LIMIT_EXCEEDED for document limits, a contract code it already has, else BAD_REQUEST. */
function graphqlLayerCode(message: string, existing?: unknown): string {
  if (isLimitError(message)) return ErrorCode.LIMIT_EXCEEDED;
  return contractCodes.has(String(existing)) ? String(existing) : ErrorCode.BAD_REQUEST;
}

/**
 * Validation errors bypass the error masker in graphql-yoga; this plugin gives
 * them the contract's codes (they keep their HTTP 400 status): LIMIT_EXCEEDED
 * for the document limits, BAD_REQUEST for the rest.
 */
export function useContractErrorCodes() {
  return {
    onValidate() {
      return ({ valid, result }: { valid: boolean; result: readonly GraphQLError[] }) => {
        if (valid) return;
        for (const error of result) {
          const extensions = error.extensions as Record<string, unknown>;
          extensions.code = graphqlLayerCode(error.message, extensions.code);
        }
      };
    },
  };
}

/** A syntax or document-limit error of the GraphQL layer, with its contract code (LIMIT_EXCEEDED or BAD_REQUEST). */
export function asContractError(error: unknown): GraphQLError {
  const message = error instanceof Error ? error.message : String(error);
  const code = graphqlLayerCode(message);
  const location = isGraphQLError(error) ? { nodes: error.nodes, source: error.source, positions: error.positions } : {};
  return new GraphQLError(message, { ...location, extensions: { code } });
}
