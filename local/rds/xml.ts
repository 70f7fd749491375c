/**
 * XML rendering of the RDS Query API responses (the `2014-10-31` format the SDK parses): a result
 * document, the error document, and the DBInstance / DBSnapshot elements.
 */
import { randomUUID } from 'node:crypto';

const NS = 'http://rds.amazonaws.com/doc/2014-10-31/';

/** A value tree rendered as XML elements: arrays become repeated `member` elements named by `list()`. */
export type XmlValue = string | number | boolean | Date | undefined | XmlList | { readonly [name: string]: XmlValue };

/** A list whose items are rendered as `<member>` elements (e.g. `TagList` → `<Tag>`). */
export class XmlList {
  constructor(readonly member: string, readonly items: readonly XmlValue[]) {}
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] ?? c);
}

function render(name: string, value: XmlValue): string {
  if (value === undefined) return '';
  if (value instanceof XmlList) return `<${name}>${value.items.map((item) => render(value.member, item)).join('')}</${name}>`;
  if (value instanceof Date) return `<${name}>${value.toISOString()}</${name}>`;
  if (typeof value === 'object') return `<${name}>${Object.entries(value).map(([k, v]) => render(k, v)).join('')}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** `<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…</ResponseMetadata></ActionResponse>`. */
export function resultXml(action: string, result: Readonly<Record<string, XmlValue>>): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NS}">${render(`${action}Result`, result)}<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`;
}

/** The Query API error document. */
export function errorXml(code: string, message: string, type: 'Sender' | 'Receiver' = 'Sender'): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${NS}"><Error><Type>${type}</Type><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`;
}
