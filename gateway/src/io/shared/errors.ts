/**
 * @module io/shared/errors
 * The error class of the state a gateway group shares (protocol/error-groups `shared`).
 */
import { errorClass } from '../../protocol/errors.js';

/** `shared_unavailable`: the shared database cannot be reached, used or understood. */
export class SharedStateError extends errorClass<'shared'>('SharedStateError') {}
