/**
 * @module io/loop
 * Long work shared with the event loop: a list visited in slices of its time, so no frame's
 * answer waits behind a pass over a ward or an enrolment.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */

export { SlicedVisit, type SliceOptions } from './slices.js';
