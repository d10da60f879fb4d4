/**
 * @module test/helpers/async-text
 * The pieces of a text made as they are taken (an export's `text()`), joined.
 */
export async function joined(pieces: AsyncIterable<string>): Promise<string> {
  let text = '';
  for await (const piece of pieces) text += piece;
  return text;
}
