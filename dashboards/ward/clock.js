// @ts-check
/**
 * @module dashboards/ward/clock
 * Times of day on the ward page, on the ward's clock (config `ward.clock`, WardDto.clock:
 * 24-hour by default, or 12-hour), taken from each live snapshot: the header clock, alarm
 * times, the sorted view's note, standby ends, the trend axis and the episode list.
 */
import { formatDateTime, formatTimeOfDay } from '../common/format.js';

/** @typedef {import('../../gateway/src/core/live-contract.js').ClockFormat} ClockFormat */

/** @type {{format: ClockFormat}} */
const page = { format: '24h' };

/**
 * Takes the ward's clock format (anything but '12h' or '24h' is ignored).
 * @param {unknown} format
 */
export function setClockFormat(format) {
  if (format === '12h' || format === '24h') page.format = format;
}

/** @returns {ClockFormat} */
export const clockFormat = () => page.format;

/**
 * A time of day on the ward's clock ("14:05", or "2:05 PM").
 * @param {number | Date} t
 * @param {boolean} [seconds]
 */
export const timeOfDay = (t, seconds = false) => formatTimeOfDay(t, page.format, seconds);

/**
 * A date and time of day on the ward's clock.
 * @param {number} t
 */
export const dateTime = (t) => formatDateTime(t, page.format);
