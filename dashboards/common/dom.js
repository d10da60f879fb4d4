// @ts-check
/**
 * @module dashboards/common/dom
 * DOM helpers of the pages. Text from the gateway or from files is only ever written as
 * textContent, never as HTML.
 */

/**
 * The element with this id; a missing one is a page bug and throws at start-up.
 * @param {string} id
 * @returns {HTMLElement}
 * @throws {Error} when the page has no such element.
 */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

/**
 * Writes text only when it changed: an identical write still invalidates layout.
 * @param {HTMLElement} el
 * @param {string} text
 */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Appends a cell holding `text` (null and undefined as empty) to a table row.
 * @param {HTMLTableRowElement} tr
 * @param {unknown} text
 * @param {string} [cls]
 */
export function appendCell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text === undefined || text === null ? '' : String(text);
  if (cls) td.className = cls;
  tr.append(td);
}

/**
 * A table row of text cells.
 * @param {readonly unknown[]} cells
 * @returns {HTMLTableRowElement}
 */
export function tableRow(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) appendCell(tr, c);
  return tr;
}

/**
 * A fresh copy of the element `selector` inside a `<template>`.
 * @param {HTMLTemplateElement} template
 * @param {string} selector
 * @returns {HTMLElement}
 */
export function cloneTemplate(template, selector) {
  const frag = /** @type {DocumentFragment} */ (template.content.cloneNode(true));
  return /** @type {HTMLElement} */ (frag.querySelector(selector));
}
