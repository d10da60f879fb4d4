/**
 * @module io/transport
 * How frames come in: the embedded MQTT broker, the client of an external broker
 * (shared subscriptions, application acks), and serial lines.
 * The one way into this folder from the rest of the gateway (test/unit/house-rules.test.ts).
 */

export {
  LiveStream,
  type LiveStreamLink,
  type LiveStreamStats,
  mqttLink,
} from './live-stream.js';
export { type EmbeddedBroker, startEmbeddedBroker } from './mqtt-broker.js';
export {
  type ExternalBrokerOptions,
  type ExternalMqttIngest,
  startExternalIngest,
} from './mqtt-client-ingest.js';
export { type SerialIngest, type SerialPortConfig, startSerialIngest } from './serial.js';
