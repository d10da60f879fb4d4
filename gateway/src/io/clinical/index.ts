/**
 * @module io/clinical
 * The clinical layer over the live hub: alarms (IEC 60601-1-8) and NEWS2 per patient,
 * with their persisted settings and alarm history.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */
export { AlarmService, type PatientSettingsUpdate } from './alarm-service.js';
export { AlarmStore } from './alarm-store.js';
