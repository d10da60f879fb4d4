/**
 * @module firmware-sim
 * The wearable simulator (ARCHITECTURE.md, `firmware-sim/`): synthetic patients, the
 * device side of PROTOCOL.md §1-2 (seq, prev hash chain, COSE_Sign1 signing,
 * store-and-forward until acked), its persistent state, the MQTT and serial transports, and a fleet
 * runner. The `vitaltrail sim` command wraps this library.
 */
export {
  type MadeFrame,
  SimDevice,
  type SimDeviceOptions,
  type SimDeviceStats,
  type SimFrame,
} from './device.js';
export {
  Fleet,
  type FleetDeviceSpec,
  type FleetOptions,
  type FleetReading,
  type FleetStats,
} from './fleet.js';
export {
  deviceTopics,
  MqttDeviceLink,
  type MqttDeviceLinkOptions,
  MqttLinkError,
  type MqttLinkErrorCode,
} from './mqtt-transport.js';
export {
  createEcgGenerator,
  createPatientModel,
  DETERIORATION_TARGET,
  type EcgGenerator,
  type EcgGeneratorOptions,
  mulberry32,
  type PatientModel,
  type PatientModelOptions,
  type PatientReading,
  SCENARIOS,
  type Scenario,
} from './physiology.js';
export {
  SerialDeviceLink,
  type SerialDeviceLinkOptions,
  type SerialDeviceLinkStats,
  type SerialFaults,
} from './serial-transport.js';
export {
  DEVICE_STATE_FORMAT,
  type DeviceState,
  DeviceStateError,
  initialDeviceState,
  loadDeviceState,
  type SaveDeviceStateOptions,
  saveDeviceState,
} from './state.js';
