import { KilnError, type KilnErrorOptions } from '../diagnostics/errors.js';

/**
 * Stable error codes of the registry client. Classify by code (hasCode), never by message.
 */
export type RegistryErrorCode =
  | 'REGISTRY_BAD_REFERENCE'
  | 'REGISTRY_BAD_DIGEST'
  | 'REGISTRY_BAD_PLATFORM'
  | 'REGISTRY_UNAUTHORIZED'
  | 'REGISTRY_DENIED'
  | 'REGISTRY_NOT_FOUND'
  | 'REGISTRY_INSECURE'
  | 'REGISTRY_TLS'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_TIMEOUT'
  | 'REGISTRY_HTTP'
  | 'REGISTRY_DIGEST_MISMATCH'
  | 'REGISTRY_SIZE_MISMATCH'
  | 'REGISTRY_TRUNCATED'
  | 'REGISTRY_TOO_LARGE'
  | 'REGISTRY_MEDIATYPE_MISMATCH'
  | 'REGISTRY_BAD_MANIFEST'
  | 'REGISTRY_NO_PLATFORM'
  | 'REGISTRY_UPLOAD'
  | 'REGISTRY_CREDENTIALS';

export class RegistryError extends KilnError {
  /** HTTP status, when the error came from a response. */
  readonly status?: number;
  /** Worth retrying (5xx, connection reset, truncated body). */
  readonly retryable: boolean;
  constructor(
    code: RegistryErrorCode,
    message: string,
    options: KilnErrorOptions & { status?: number; retryable?: boolean } = {},
  ) {
    super(code, message, options);
    if (options.status !== undefined) this.status = options.status;
    this.retryable = options.retryable ?? false;
  }
}

export const registryError = (
  code: RegistryErrorCode,
  message: string,
  options?: KilnErrorOptions & { status?: number; retryable?: boolean },
): RegistryError => new RegistryError(code, message, options);
