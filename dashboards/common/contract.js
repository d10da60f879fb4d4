// @ts-check
/**
 * @module dashboards/common/contract
 * The pages' copy of the live contract's runtime constants. The owner is
 * gateway/src/core/live-contract.ts: each constant here is typed with that module's
 * literal type, so `npm run typecheck` (dashboards/tsconfig.json) fails when the two
 * differ, and test/unit/dashboard-contract.test.ts compares the values. The page runs
 * without a build step, so it cannot import the TypeScript module itself.
 *
 * Types of the contract are re-exported here for the pages' JSDoc:
 * `@typedef {import('../common/contract.js').ReadingDto} ReadingDto`.
 */

/** @typedef {import('../../gateway/src/core/live-contract.js').ReadingDto} ReadingDto */
/** @typedef {import('../../gateway/src/core/live-contract.js').TileDto} TileDto */
/** @typedef {import('../../gateway/src/core/live-contract.js').News2Dto} News2Dto */
/** @typedef {import('../../gateway/src/core/live-contract.js').News2Band} News2Band */
/** @typedef {import('../../gateway/src/core/live-contract.js').AlarmDto} AlarmDto */
/** @typedef {import('../../gateway/src/core/live-contract.js').AlarmPriority} AlarmPriority */
/** @typedef {import('../../gateway/src/core/live-contract.js').AlarmEventDto} AlarmEventDto */
/** @typedef {import('../../gateway/src/core/live-contract.js').LiveMessage} LiveMessage */
/** @typedef {import('../../gateway/src/core/live-contract.js').SnapshotMessage} SnapshotMessage */
/** @typedef {import('../../gateway/src/core/live-contract.js').ReadingMessage} ReadingMessage */
/** @typedef {import('../../gateway/src/core/live-contract.js').AlarmMessage} AlarmMessage */
/** @typedef {import('../../gateway/src/core/live-contract.js').News2Message} News2Message */
/** @typedef {import('../../gateway/src/core/live-contract.js').EcgMessage} EcgMessage */
/** @typedef {import('../../gateway/src/core/live-contract.js').MeDto} MeDto */
/** @typedef {import('../../gateway/src/core/live-contract.js').SessionRole} SessionRole */
/** @typedef {import('../../gateway/src/core/live-contract.js').DisplaySessionRequest} DisplaySessionRequest */
/** @typedef {import('../../gateway/src/core/live-contract.js').PasswordChangeRequest} PasswordChangeRequest */
/** @typedef {import('../../gateway/src/core/live-contract.js').HeartbeatMessage} HeartbeatMessage */
/** @typedef {import('../../gateway/src/core/live-contract.js').ErrorBody} ErrorBody */
/** @typedef {import('../../gateway/src/core/live-contract.js').PatientViewDto} PatientViewDto */
/** @typedef {import('../../gateway/src/core/live-contract.js').PatientSettings} PatientSettings */
/** @typedef {import('../../gateway/src/core/live-contract.js').PatientSettingsUpdate} PatientSettingsUpdate */
/** @typedef {import('../../gateway/src/core/live-contract.js').AckRequest} AckRequest */
/** @typedef {import('../../gateway/src/core/live-contract.js').AdmissionRequest} AdmissionRequest */
/** @typedef {import('../../gateway/src/core/live-contract.js').BindingsResponse} BindingsResponse */
/** @typedef {import('../../gateway/src/core/live-contract.js').BedsResponse} BedsResponse */
/** @typedef {import('../../gateway/src/core/live-contract.js').BindingHistoryResponse} BindingHistoryResponse */
/** @typedef {import('../../gateway/src/core/live-contract.js').TrendResponse} TrendResponse */
/** @typedef {import('../../gateway/src/core/live-contract.js').TrendPointDto} TrendPointDto */
/** @typedef {import('../../gateway/src/core/live-contract.js').ObservationKey} ObservationKey */
/** @typedef {import('../../gateway/src/core/live-contract.js').LimitVital} LimitVital */

/**
 * Close code of the live socket: the session ended (idle expiry or logout).
 * @type {typeof import('../../gateway/src/core/live-contract.js').WS_CLOSE_SESSION_ENDED}
 */
export const WS_CLOSE_SESSION_ENDED = 4401;

/**
 * NEWS2 trigger bands, lowest first (RCP 2017 chart 2).
 * @type {typeof import('../../gateway/src/core/live-contract.js').NEWS2_BANDS}
 */
export const NEWS2_BANDS = ['zero', 'low', 'low_medium', 'medium', 'high'];

/**
 * A socket that was sent nothing this long gets a `{type:'heartbeat', now}`.
 * @type {typeof import('../../gateway/src/core/live-contract.js').HEARTBEAT_MS}
 */
export const HEARTBEAT_MS = 2000;

/**
 * Nothing heard on the live socket this long: the page shows "connection lost".
 * @type {typeof import('../../gateway/src/core/live-contract.js').CONNECTION_LOST_MS}
 */
export const CONNECTION_LOST_MS = 5000;
